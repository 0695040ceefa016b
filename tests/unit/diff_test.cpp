#include <gtest/gtest.h>

#include "radsync/reconcile/diff.hpp"

namespace radsync::reconcile {
namespace {

using store::OwnedRow;
using store::RadRow;
using store::Table;

RadRow check(const std::string& user, const std::string& attr, const std::string& value) {
    return {Table::kRadcheck, user, attr, ":=", value, 0};
}
RadRow usergroup(const std::string& user, const std::string& group, int priority) {
    return {Table::kRadusergroup, user, group, "", "", priority};
}

TEST(DiffRows, IdenticalSetsProduceNothing) {
    const std::vector<RadRow> desired = {check("a", "NT-Password", "x"), usergroup("a", "g", 10)};
    const std::vector<OwnedRow> current = {{7, desired[1]}, {3, desired[0]}};
    EXPECT_TRUE(diff_rows(desired, current).empty());
}

TEST(DiffRows, ChangedValueIsAnUpdateKeepingTheId) {
    const auto changes =
        diff_rows({check("a", "NT-Password", "new")}, {{5, check("a", "NT-Password", "old")}});
    ASSERT_EQ(changes.size(), 1U);
    EXPECT_EQ(changes[0].op, RowChange::Op::kUpdate);
    EXPECT_EQ(changes[0].id, 5);
    EXPECT_EQ(changes[0].before->value, "old");
    EXPECT_EQ(changes[0].after->value, "new");
}

TEST(DiffRows, InsertsDeletesAndPriorityUpdates) {
    const auto changes =
        diff_rows({usergroup("a", "plan", 10), usergroup("a", "site:1", 100)},
                  {{1, usergroup("a", "plan", 20)}, {2, usergroup("a", "deny", 1000)}});
    ASSERT_EQ(changes.size(), 3U);
    EXPECT_EQ(changes[0].op, RowChange::Op::kDelete);  // deletes come first
    EXPECT_EQ(changes[0].id, 2);
    EXPECT_EQ(changes[1].op, RowChange::Op::kUpdate);
    EXPECT_EQ(changes[1].after->priority, 10);
    EXPECT_EQ(changes[2].op, RowChange::Op::kInsert);
    EXPECT_EQ(changes[2].after->attribute, "site:1");
}

TEST(DiffRows, DuplicatesAreMultisetsAndTheLowestIdSurvives) {
    const RadRow r = check("a", "Auth-Type", "Reject");
    const auto changes = diff_rows({r}, {{9, r}, {4, r}});
    ASSERT_EQ(changes.size(), 1U);
    EXPECT_EQ(changes[0].op, RowChange::Op::kDelete);
    EXPECT_EQ(changes[0].id, 9);
    // Two identical desired rows need two rows.
    EXPECT_EQ(diff_rows({r, r}, {{4, r}}).size(), 1U);
}

TEST(DiffRows, EverythingGoesWhenNothingIsDesired) {
    const auto changes = diff_rows({}, {{1, check("a", "X", "1")}, {2, check("b", "X", "1")}});
    ASSERT_EQ(changes.size(), 2U);
    EXPECT_EQ(changes[0].op, RowChange::Op::kDelete);
    EXPECT_EQ(changes[1].op, RowChange::Op::kDelete);
}

}  // namespace
}  // namespace radsync::reconcile
