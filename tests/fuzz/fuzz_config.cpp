// libFuzzer target: the YAML configuration loader (main file and one mapping file), as
// check-config and SIGHUP read them. The input is the main file, then a NUL, then mapping.yaml.
// A bad file must come back as problems with positions, in bounded time and memory.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "radsync/config/loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto split = input.find('\0');
    const std::string main_text(input.substr(0, split));
    const std::string mapping =
        split == std::string_view::npos ? std::string() : std::string(input.substr(split + 1));
    (void)radsync::config::load_from_strings("radsync.yaml", main_text,
                                             {{"mapping.yaml", mapping}});
    return 0;
}
