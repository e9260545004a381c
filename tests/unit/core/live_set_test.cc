#include "core/live_set.h"

#include <gtest/gtest.h>

#include <thread>

namespace aquawatch {
namespace {

struct Conn {
  explicit Conn(LiveSet<Conn>& set) : set(set) {}
  ~Conn() { set.Remove(this); }
  LiveSet<Conn>& set;
};

TEST(LiveSet, EmptyOnceEveryConnectionIsGone) {
  LiveSet<Conn> set;
  auto a = std::make_shared<Conn>(set);
  auto b = std::make_shared<Conn>(set);
  set.Add(a);
  set.Add(b);
  EXPECT_EQ(set.Snapshot().size(), 2u);
  EXPECT_EQ(set.WaitEmpty(std::chrono::milliseconds(1)), 2u);  // times out, both alive
  a.reset();
  EXPECT_EQ(set.Snapshot().size(), 1u);
  std::thread last([&b] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    b.reset();  // the last handler lets go on another thread
  });
  EXPECT_EQ(set.WaitEmpty(std::chrono::seconds(10)), 0u);
  last.join();
  EXPECT_TRUE(set.Snapshot().empty());
}

}  // namespace
}  // namespace aquawatch
