#include "pipeline/sensor_index.h"

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>

namespace aquawatch {
namespace {

TEST(SensorIndex, FindsEveryInsertedIdAndNothingElseThroughGrowth) {
  std::deque<std::string> ids;
  SensorIndex index(ids);
  EXPECT_EQ(index.Find("absent"), SensorIndex::kNotFound);
  std::unordered_map<std::string, std::uint32_t> model;
  std::mt19937_64 rng(7);
  for (std::uint32_t n = 0; n < 50'000; ++n) {
    // Short and long ids, shared prefixes: "plant-12", "plant-12/probe-3", ...
    std::string id = "plant-" + std::to_string(rng() % 100'000);
    if (rng() % 3 == 0) id += "/probe-" + std::to_string(rng() % 10);
    if (model.count(id) != 0) continue;
    ASSERT_EQ(index.Find(id), SensorIndex::kNotFound) << id;
    const auto number = static_cast<std::uint32_t>(ids.size());
    ids.push_back(id);
    index.Insert(ids.back(), number);
    model.emplace(id, number);
  }
  EXPECT_EQ(index.size(), model.size());
  for (const auto& [id, number] : model) ASSERT_EQ(index.Find(id), number) << id;
  EXPECT_EQ(index.Find("plant-100000"), SensorIndex::kNotFound);
  EXPECT_EQ(index.Find(""), SensorIndex::kNotFound);
  EXPECT_EQ(index.Find("plant-1/probe-"), SensorIndex::kNotFound);
}

TEST(SensorIndex, BatchLookupAgreesWithSingleLookups) {
  std::deque<std::string> ids;
  SensorIndex index(ids);
  std::vector<std::string_view> batch;
  std::vector<std::uint64_t> scratch;
  std::vector<std::uint32_t> out(3);
  batch = {"a", "b", "a"};
  index.FindBatch(batch, scratch, out);  // an empty index
  EXPECT_EQ(out, std::vector<std::uint32_t>(3, SensorIndex::kNotFound));
  for (int i = 0; i < 5000; ++i) {
    ids.push_back("sensor-" + std::to_string(i));
    index.Insert(ids.back(), static_cast<std::uint32_t>(i));
  }
  std::vector<std::string> wanted;
  for (int i = 0; i < 6000; i += 3) wanted.push_back("sensor-" + std::to_string(i));
  batch.assign(wanted.begin(), wanted.end());
  out.resize(batch.size());
  index.FindBatch(batch, scratch, out);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    EXPECT_EQ(out[i], index.Find(batch[i])) << batch[i];
    EXPECT_EQ(out[i], 3 * i < 5000 ? 3 * i : SensorIndex::kNotFound) << batch[i];
  }
}

}  // namespace
}  // namespace aquawatch
