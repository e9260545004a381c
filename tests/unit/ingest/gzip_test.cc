#include <gtest/gtest.h>
#include <zlib.h>

#include "ingest/ingest_channel.h"

namespace aquawatch {
namespace {

std::string GzipCompress(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(
      deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
      Z_OK);
  std::string out(deflateBound(&zs, in.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

TEST(Gunzip, RoundTripsLargeBodies) {
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "water,sensor=s" + std::to_string(i) + " ph=7.1\n";
  auto out = Gunzip(GzipCompress(text), 64 << 20);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, text);
}

TEST(Gunzip, RefusesBodiesThatInflatePastTheLimit) {
  std::string zeros(1 << 20, '0');
  auto out = Gunzip(GzipCompress(zeros), 64 * 1024);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("more than"), std::string::npos);
}

TEST(Gunzip, RejectsGarbageAndTruncation) {
  EXPECT_FALSE(Gunzip("not gzip at all", 1 << 20).ok());
  std::string z = GzipCompress(std::string(10000, 'x'));
  auto cut = Gunzip(z.substr(0, z.size() / 2), 1 << 20);
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.status().message().find("truncated"), std::string::npos);
}

}  // namespace
}  // namespace aquawatch
