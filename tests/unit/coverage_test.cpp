#include <gtest/gtest.h>

#include "radsync/mapping/coverage.hpp"

namespace radsync::mapping {
namespace {

config::PlanRule plan_rule(config::Match m, std::string group, int line) {
    return {std::move(m), std::move(group), std::nullopt, {"mapping.yaml", line, 5}};
}

config::Match by_name(std::string n) {
    config::Match m;
    m.name = std::move(n);
    return m;
}

config::Match by_code(std::string c) {
    config::Match m;
    m.code = std::move(c);
    return m;
}

template <class Entity>
Entity named(std::string id, std::string name) {
    Entity e;
    e.id = std::move(id);
    if constexpr (requires { e.name; }) {
        e.name = std::move(name);
    } else {
        e.title = std::move(name);
    }
    return e;
}

snapshot::Plan plan(std::string id, std::string name, std::string code) {
    auto p = named<snapshot::Plan>(std::move(id), std::move(name));
    p.code = std::move(code);
    return p;
}

snapshot::Snapshot officernd() {
    snapshot::Snapshot s;
    s.plans = {plan("p1", "Hot Desk", "HD"), plan("p2", "Mailbox", "MB")};
    s.locations = {named<snapshot::Location>("l1", "Downtown")};
    s.companies = {named<snapshot::Company>("c1", "Acme")};
    auto room = named<snapshot::ResourceType>("rt1", "Meeting room");
    room.type = "meeting_room";
    s.resource_types = {room};
    return s;
}

config::Mapping complete_mapping() {
    config::Mapping m;
    m.plans = {plan_rule(by_name("Hot Desk"), "basic", 3), plan_rule(by_code("MB"), "none", 5)};
    config::LocationRule downtown;
    downtown.match = by_name("Downtown");
    downtown.key = "downtown";
    m.locations = {downtown};
    return m;
}

TEST(Coverage, ACompleteMappingIsClean) {
    const auto c = check_coverage(complete_mapping(), officernd());
    EXPECT_TRUE(c.clean());
    EXPECT_EQ(c.plans, 2U);
    EXPECT_EQ(c.locations, 1U);
}

TEST(Coverage, UncoveredPlansAndLocationsAreListed) {
    auto mapping = complete_mapping();
    mapping.plans.pop_back();
    auto snap = officernd();
    snap.locations.push_back(named<snapshot::Location>("l2", "Harbour"));
    const auto c = check_coverage(mapping, snap);
    ASSERT_EQ(c.uncovered_plans.size(), 1U);
    EXPECT_EQ(c.uncovered_plans[0].id, "p2");
    EXPECT_EQ(c.uncovered_plans[0].code, "MB");
    ASSERT_EQ(c.uncovered_locations.size(), 1U);
    EXPECT_EQ(c.uncovered_locations[0].name, "Harbour");
    EXPECT_FALSE(c.clean());
}

TEST(Coverage, EntriesThatMatchNothingNameTheirLine) {
    auto mapping = complete_mapping();
    mapping.plans.push_back(plan_rule(by_name("Hot desk"), "basic", 9));  // the case differs
    config::CompanyRule gone;
    gone.match = by_name("Old Corp");
    gone.origin = {"mapping.yaml", 20, 5};
    mapping.companies = {gone};
    config::Guests guests;
    guests.resource_types = {"meeting_room", "phone_booth"};
    guests.origin = {"mapping.yaml", 30, 3};
    mapping.guests = guests;
    const auto c = check_coverage(mapping, officernd());
    ASSERT_EQ(c.dead_entries.size(), 3U);
    EXPECT_EQ(c.dead_entries[0].section, "plans");
    EXPECT_EQ(c.dead_entries[0].match, "name \"Hot desk\"");
    EXPECT_EQ(c.dead_entries[0].origin.line, 9);
    EXPECT_EQ(c.dead_entries[1].section, "companies");
    EXPECT_EQ(c.dead_entries[2].section, "guests.resource_types");
    EXPECT_EQ(c.dead_entries[2].match, "\"phone_booth\"");
}

TEST(Coverage, APlanTwoEntriesMatchIsContested) {
    auto mapping = complete_mapping();
    mapping.plans.push_back(plan_rule(by_code("HD"), "pro", 7));
    const auto c = check_coverage(mapping, officernd());
    ASSERT_EQ(c.contested_plans.size(), 1U);
    EXPECT_EQ(c.contested_plans[0].plan.id, "p1");
    EXPECT_EQ(c.contested_plans[0].groups, (std::vector<std::string>{"basic", "pro"}));
    EXPECT_EQ(c.contested_plans[0].origins[1].line, 7);
}

}  // namespace
}  // namespace radsync::mapping
