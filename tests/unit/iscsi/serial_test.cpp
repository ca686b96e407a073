#include "target/iscsi/serial.hpp"

#include <gtest/gtest.h>

using namespace swiftness::iscsi;

TEST(Serial, ComparesAcrossTheWrap) {
  EXPECT_TRUE(sn_lt(0xfffffffe, 1));
  EXPECT_TRUE(sn_gt(1, 0xfffffffe));
  EXPECT_TRUE(sn_lt(5, 6));
  EXPECT_FALSE(sn_lt(6, 6));
  EXPECT_TRUE(sn_le(6, 6));
}

TEST(CmdWindow, ClassifiesInOrderAheadAndOutside) {
  CmdWindow w;
  w.reset(100);
  EXPECT_EQ(w.advertise(64), 163u);  // at least 64 ahead when idle
  EXPECT_EQ(w.classify(100), CmdWindow::Verdict::in_order);
  EXPECT_EQ(w.classify(101), CmdWindow::Verdict::ahead);
  EXPECT_EQ(w.classify(163), CmdWindow::Verdict::ahead);
  EXPECT_EQ(w.classify(164), CmdWindow::Verdict::outside);                // beyond MaxCmdSN
  EXPECT_EQ(w.classify(99), CmdWindow::Verdict::outside);                 // already received
  EXPECT_EQ(w.classify(100 + 0x80000000u), CmdWindow::Verdict::outside);  // far away
}

TEST(CmdWindow, WrapsAround) {
  CmdWindow w;
  w.reset(0xfffffff0);
  w.advertise(64);
  EXPECT_EQ(w.max_cmd_sn(), 0x2fu);
  EXPECT_EQ(w.classify(0x10), CmdWindow::Verdict::ahead);
  for (int i = 0; i < 32; ++i)
    w.advance();
  EXPECT_EQ(w.exp_cmd_sn(), 0x10u);
  EXPECT_EQ(w.classify(0x10), CmdWindow::Verdict::in_order);
  EXPECT_EQ(w.classify(0xfffffff5), CmdWindow::Verdict::outside);
}

TEST(CmdWindow, MaxCmdSnNeverMovesBackwards) {
  CmdWindow w;
  w.reset(10);
  EXPECT_EQ(w.advertise(64), 73u);
  // Every slot busy: the window may stop growing but what was offered stays valid.
  EXPECT_EQ(w.advertise(0), 73u);
  EXPECT_EQ(w.classify(73), CmdWindow::Verdict::ahead);
}

TEST(CmdWindow, ClosedWindowWhenNoSlotsFromTheStart) {
  CmdWindow w;
  w.reset(10);
  EXPECT_EQ(w.advertise(0), 9u);  // MaxCmdSN = ExpCmdSN - 1: closed
  EXPECT_EQ(w.classify(10), CmdWindow::Verdict::outside);
}
