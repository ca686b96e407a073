#include "target/iscsi/params.hpp"

#include <gtest/gtest.h>

using namespace swiftness::iscsi;

namespace {
std::string answer(const Negotiator::Outcome& o, const std::string& key) {
  for (auto& [k, v] : o.response)
    if (k == key) return v;
  return "<absent>";
}
}  // namespace

struct Case {
  std::string key, offer, expected;
};

// Table-driven: the initiator's offer and the answer RFC 7143 §6.2 and §13 require.
class NegotiationTable : public ::testing::TestWithParam<Case> {};

TEST_P(NegotiationTable, AnswersPerRule) {
  const Case& c = GetParam();
  Negotiator n(SessionType::normal, TargetLimits{});
  auto o = n.negotiate({{c.key, c.offer}});
  EXPECT_FALSE(o.failed) << o.failure;
  EXPECT_EQ(answer(o, c.key), c.expected) << c.key << "=" << c.offer;
}

INSTANTIATE_TEST_SUITE_P(
    Rfc7143, NegotiationTable,
    ::testing::Values(
        // list: the first offered value we support
        Case{"HeaderDigest", "None,CRC32C", "None"}, Case{"HeaderDigest", "CRC32C,None", "CRC32C"},
        Case{"DataDigest", "CRC32C", "CRC32C"},
        // min / max
        Case{"MaxBurstLength", "262144", "262144"}, Case{"MaxBurstLength", "16777215", "1048576"},
        Case{"FirstBurstLength", "65536", "65536"}, Case{"MaxConnections", "32", "1"},
        Case{"ErrorRecoveryLevel", "2", "0"}, Case{"MaxOutstandingR2T", "1", "1"},
        Case{"MaxOutstandingR2T", "64", "16"}, Case{"DefaultTime2Wait", "0", "2"},
        Case{"DefaultTime2Retain", "60", "0"},
        // boolean OR / AND
        Case{"InitialR2T", "No", "No"}, Case{"InitialR2T", "Yes", "Yes"},
        Case{"ImmediateData", "Yes", "Yes"}, Case{"ImmediateData", "No", "No"},
        Case{"DataPDUInOrder", "Yes", "Yes"}, Case{"DataSequenceInOrder", "Yes", "Yes"},
        // declarative: we answer with our own receive limit
        Case{"MaxRecvDataSegmentLength", "65536", "262144"},
        // obsolete markers and unknown keys
        Case{"IFMarker", "Yes", "No"}, Case{"OFMarkInt", "1-65535", "Irrelevant"},
        Case{"X-com.example.Foo", "bar", "NotUnderstood"}, Case{"Bogus", "1", "NotUnderstood"},
        // out of range and malformed values
        Case{"MaxBurstLength", "100", "Reject"}, Case{"InitialR2T", "maybe", "Reject"},
        Case{"MaxBurstLength", "0x40000", "262144"}));

TEST(Negotiation, ResultIsTypedAndFirstBurstNeverExceedsMaxBurst) {
  Negotiator n(SessionType::normal, TargetLimits{});
  auto o = n.negotiate({{"MaxBurstLength", "65536"},
                        {"FirstBurstLength", "262144"},
                        {"MaxRecvDataSegmentLength", "8192"},
                        {"HeaderDigest", "CRC32C"},
                        {"InitialR2T", "No"}});
  ASSERT_FALSE(o.failed);
  const auto& p = n.params();
  EXPECT_EQ(p.max_burst_length, 65536u);
  EXPECT_EQ(p.first_burst_length, 65536u);
  EXPECT_EQ(p.initiator_max_recv_data_segment_length, 8192u);
  EXPECT_EQ(p.target_max_recv_data_segment_length, 262144u);
  EXPECT_TRUE(p.header_digest);
  EXPECT_FALSE(p.data_digest);
  EXPECT_FALSE(p.initial_r2t);
}

TEST(Negotiation, SessionKeysAreIrrelevantInDiscovery) {
  Negotiator n(SessionType::discovery, TargetLimits{});
  auto o = n.negotiate({{"MaxBurstLength", "262144"},
                        {"InitialR2T", "No"},
                        {"HeaderDigest", "None,CRC32C"},
                        {"MaxRecvDataSegmentLength", "65536"},
                        {"DefaultTime2Wait", "0"}});
  EXPECT_EQ(answer(o, "MaxBurstLength"), "Irrelevant");
  EXPECT_EQ(answer(o, "InitialR2T"), "Irrelevant");
  EXPECT_EQ(answer(o, "HeaderDigest"), "None");
  EXPECT_EQ(answer(o, "MaxRecvDataSegmentLength"), "262144");
  EXPECT_EQ(answer(o, "DefaultTime2Wait"), "2");
}

TEST(Negotiation, KeyOfferedTwiceFailsTheLogin) {
  Negotiator n(SessionType::normal, TargetLimits{});
  EXPECT_FALSE(n.negotiate({{"MaxBurstLength", "262144"}}).failed);
  EXPECT_TRUE(n.negotiate({{"MaxBurstLength", "65536"}}).failed);
}

TEST(Negotiation, NoSupportedDigestFails) {
  Negotiator n(SessionType::normal, TargetLimits{});
  auto o = n.negotiate({{"HeaderDigest", "MD5"}});
  EXPECT_TRUE(o.failed);
  EXPECT_EQ(answer(o, "HeaderDigest"), "Reject");
}

TEST(Negotiation, OnlyOfferedKeysAreAnswered) {
  Negotiator n(SessionType::normal, TargetLimits{});
  auto o = n.negotiate({{"InitiatorName", "iqn.2026-01.x:y"}, {"ImmediateData", "Yes"}});
  ASSERT_EQ(o.response.size(), 1u);
  EXPECT_EQ(o.response[0].first, "ImmediateData");
}

TEST(ParseNumber, DecimalAndHex) {
  EXPECT_EQ(*parse_number("8192"), 8192u);
  EXPECT_EQ(*parse_number("0x2000"), 8192u);
  EXPECT_FALSE(parse_number(""));
  EXPECT_FALSE(parse_number("12a"));
  EXPECT_FALSE(parse_number("-1"));
}
