#include "api/http_target.h"

#include <gtest/gtest.h>

namespace aquawatch {
namespace {

TEST(HttpTarget, SplitsAndDecodesPathAndQuery) {
  HttpRequest r;
  SplitTarget(
      "/api/v1/sensors/a%3Ab/"
      "readings?parameter=ph&parameter=toc%5Fmg&from=2026-11-27T10%3A00%3A00Z&flag&&x=a+b",
      r);
  EXPECT_EQ(r.path, "/api/v1/sensors/a:b/readings");
  ASSERT_EQ(r.query.size(), 5u);
  EXPECT_EQ(r.query[0], (std::pair<std::string, std::string>{"parameter", "ph"}));
  EXPECT_EQ(r.query[1].second, "toc_mg");
  EXPECT_EQ(*r.Query("from"), "2026-11-27T10:00:00Z");
  EXPECT_EQ(*r.Query("flag"), "");  // a pair without '=' has an empty value
  EXPECT_EQ(*r.Query("x"), "a b");
}

TEST(HttpTarget, LeavesBrokenEscapesAlone) {
  EXPECT_EQ(PercentDecode("100%"), "100%");
  EXPECT_EQ(PercentDecode("%4"), "%4");
  EXPECT_EQ(PercentDecode("%zz%41"), "%zzA");
  EXPECT_EQ(PercentDecode("%41"), "A");  // an escape that ends the string
  HttpRequest r;
  SplitTarget("/p?", r);
  EXPECT_EQ(r.path, "/p");
  EXPECT_TRUE(r.query.empty());
}

}  // namespace
}  // namespace aquawatch
