// IPv4 addresses and networks for address pools.

#include <gtest/gtest.h>

#include "radsync/core/ipv4.hpp"

namespace radsync::core {
namespace {

TEST(Ipv4, ParsesDottedQuadsStrictly) {
    EXPECT_EQ(parse_ipv4("10.20.30.40"), 0x0A141E28U);
    EXPECT_EQ(format_ipv4(0x0A141E28U), "10.20.30.40");
    for (const char* bad : {"", "10.20.30", "10.20.30.40.5", "010.1.1.1", "256.1.1.1", "1.1.1.1 ",
                            "a.b.c.d", "1..1.1"}) {
        EXPECT_FALSE(parse_ipv4(bad)) << bad;
    }
}

TEST(Ipv4, NetworksKnowTheirUsableAddressesAndOverlaps) {
    const auto n = parse_ipv4_network("10.20.30.0/28").value();
    EXPECT_EQ(format_ipv4(n.first_usable()), "10.20.30.1");
    EXPECT_EQ(format_ipv4(n.last_usable()), "10.20.30.14");
    EXPECT_EQ(n.usable_count(), 14U);
    EXPECT_TRUE(n.contains(*parse_ipv4("10.20.30.15")));
    EXPECT_FALSE(n.contains(*parse_ipv4("10.20.30.16")));
    EXPECT_TRUE(n.overlaps(parse_ipv4_network("10.20.0.0/16").value()));
    EXPECT_FALSE(n.overlaps(parse_ipv4_network("10.20.30.16/28").value()));
    const auto point = parse_ipv4_network("10.0.0.7/32").value();
    EXPECT_EQ(point.usable_count(), 1U);
    EXPECT_EQ(parse_ipv4_network("10.0.0.6/31").value().usable_count(), 2U);
    EXPECT_EQ(parse_ipv4_network("10.20.30.1/24").error().message,
              "host bits set in \"10.20.30.1/24\": did you mean 10.20.30.0/24?");
    for (const char* bad : {"10.0.0.0", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/08", "x/8"}) {
        EXPECT_FALSE(parse_ipv4_network(bad)) << bad;
    }
}

}  // namespace
}  // namespace radsync::core
