#include "tests/bench/iscsi/ack_log.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace swiftness::bench {
namespace {

class AckLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ack_log_test.XXXXXX").string();
    ASSERT_NE(nullptr, mkdtemp(tmpl.data()));
    dir_ = tmpl;
    path_ = dir_ + "/ack.log";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_, path_;
};

TEST_F(AckLogTest, RoundTrip) {
  std::string error;
  {
    auto w = AckLogWriter::create(path_, 42, 4096, &error);
    ASSERT_TRUE(w) << error;
    EXPECT_TRUE(w->append(0, 256));
    EXPECT_TRUE(w->append(1000, 1));
    EXPECT_EQ(2u, w->extents());
  }
  auto log = read_ack_log(path_, &error);
  ASSERT_TRUE(log) << error;
  EXPECT_EQ(42u, log->seed);
  EXPECT_EQ(4096u, log->block_size);
  ASSERT_EQ(2u, log->extents.size());
  EXPECT_EQ(1000u, log->extents[1].lba);
  EXPECT_EQ(1u, log->extents[1].blocks);
}

TEST_F(AckLogTest, TornLastLineIsIgnored) {
  std::ofstream(path_) << "iscsi-rwverify-ack-log v1 seed=1 block_size=512\n8 8\n16 ";
  std::string error;
  auto log = read_ack_log(path_, &error);
  ASSERT_TRUE(log) << error;
  ASSERT_EQ(1u, log->extents.size());
  EXPECT_EQ(8u, log->extents[0].lba);
}

TEST_F(AckLogTest, RejectsOtherFilesAndBadLines) {
  std::string error;
  std::ofstream(path_) << "hello\n";
  EXPECT_FALSE(read_ack_log(path_, &error));
  EXPECT_NE(error.find("not an iscsi-rwverify ack log"), std::string::npos) << error;
  std::ofstream(path_) << "iscsi-rwverify-ack-log v1 seed=1 block_size=512\n8 x\n";
  EXPECT_FALSE(read_ack_log(path_, &error));
  EXPECT_NE(error.find(":2:"), std::string::npos) << error;
  std::ofstream(path_) << "iscsi-rwverify-ack-log v1 seed=1 block_size=512\n8 0\n";
  EXPECT_FALSE(read_ack_log(path_, &error));
  EXPECT_FALSE(read_ack_log(dir_ + "/missing", &error));
}

}  // namespace
}  // namespace swiftness::bench
