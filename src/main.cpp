#include "radsync/cli/cli.hpp"

int main(int argc, char** argv) {
    return radsync::cli::run(argc, argv);
}
