// The client's half of the error contract (client/src/errors.hpp): every
// outcome of the segment and of the broker reaches the caller as a code of
// its own, and none is lost in a catch-all.
#include "errors.hpp"

#include <gtest/gtest.h>

#include <map>
#include <new>
#include <set>
#include <string>

namespace shmreg::client_detail {
namespace {

// Every value to_string() knows is a status the wire parser accepts.
std::vector<proto::Status> every_failure_status() {
  std::vector<proto::Status> out;
  for (int s = 1; s <= 0xffff; ++s)
    if (proto::to_string(static_cast<proto::Status>(s)) != "unknown status") out.push_back(static_cast<proto::Status>(s));
  return out;
}

TEST(ClientErrors, EveryBrokerStatusReachesTheCallerAsACodeOfItsOwn) {
  std::map<Errc, proto::Status> seen;
  for (proto::Status s : every_failure_status()) {
    const Errc e = from_status(s);
    EXPECT_NE(e, Errc::broker_unavailable) << proto::to_string(s);
    EXPECT_NE(e, Errc::protocol_error) << proto::to_string(s);
    EXPECT_NE(to_string(e), "unknown") << proto::to_string(s);
    auto [it, inserted] = seen.emplace(e, s);
    EXPECT_TRUE(inserted) << proto::to_string(s) << " and " << proto::to_string(it->second) << " both become "
                          << to_string(e);
  }
  EXPECT_GE(seen.size(), 24u);
}

TEST(ClientErrors, SegmentOutcomesKeepTheirMeaning) {
  EXPECT_EQ(from_shm(shm::Errc::corrupt), Errc::corrupt_segment);
  EXPECT_EQ(from_shm(shm::Errc::retry_exhausted), Errc::busy);
  EXPECT_EQ(from_shm(shm::Errc::meta_too_large), Errc::meta_too_large);
  EXPECT_EQ(from_shm(shm::Errc::stale_owner), Errc::stale_owner);
  EXPECT_EQ(from_shm(shm::Errc::version_mismatch), Errc::incompatible_segment);
  EXPECT_EQ(from_shm(shm::Errc::abi_mismatch), Errc::incompatible_segment);
  EXPECT_EQ(from_shm(shm::Errc::segment_not_found), Errc::segment_not_found);
  EXPECT_EQ(from_shm(shm::Errc::owner_table_full), Errc::owner_table_full);
  EXPECT_EQ(from_shm(shm::Errc::segment_full), Errc::segment_full);
  EXPECT_EQ(from_shm(shm::Errc::superseded), Errc::segment_replaced);
  EXPECT_EQ(static_cast<int>(Errc::segment_replaced), 35) << "appended after reload_forbidden";
  EXPECT_EQ(static_cast<int>(Errc::cluster_unavailable), 36) << "appended after segment_replaced";
  EXPECT_EQ(from_status(proto::Status::cluster_unavailable), Errc::cluster_unavailable);
  EXPECT_NE(error_from_shm(shm::Errc::superseded).message.find("open the namespace again"), std::string::npos);
}

TEST(ClientErrors, BrokerAndSegmentAgreeOnEveryCodeBothCanProduce) {
  // A segment outcome seen by the broker (shm -> status -> client) and seen by
  // the client's own reader (shm -> client) is the same public code.
  const std::map<shm::Errc, proto::Status> through_broker = {
      {shm::Errc::registry_not_found, proto::Status::registry_not_found},
      {shm::Errc::key_too_long, proto::Status::key_too_long},
      {shm::Errc::value_too_long, proto::Status::value_too_long},
      {shm::Errc::meta_too_large, proto::Status::meta_too_large},
      {shm::Errc::stale_owner, proto::Status::stale_owner},
      {shm::Errc::corrupt, proto::Status::segment_corrupt},
      {shm::Errc::retry_exhausted, proto::Status::busy},
      {shm::Errc::owner_table_full, proto::Status::owner_table_full},
      {shm::Errc::segment_full, proto::Status::segment_full},
      {shm::Errc::too_many_registries, proto::Status::too_many_registries},
  };
  for (auto [e, s] : through_broker) EXPECT_EQ(from_shm(e), from_status(s)) << shm::to_string(e);
}

TEST(ClientErrors, RunningOutOfMemoryIsOutOfMemoryNotAnIoError) {
  auto r = guarded([]() -> Result<int> { throw std::bad_alloc(); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::out_of_memory);
}

TEST(ClientErrors, AlreadyRegisteredCarriesTheOwnersPid) {
  const Error e = error_from_reply(proto::OpResult{proto::Status::already_registered, 4242, "taken", {}});
  EXPECT_EQ(e.code, Errc::already_registered);
  EXPECT_EQ(e.pid, 4242u);
}

TEST(ClientErrors, AnExchangeThatRanOutOfTimeIsTimeoutAndSaysWhetherTheRequestWasSent) {
  const Error sent = error_from_connection(ConnectionError{true, "no reply within 200 ms", false, true});
  EXPECT_EQ(sent.code, Errc::timeout);
  EXPECT_TRUE(sent.maybe_applied);
  EXPECT_EQ(sent.message, "no reply within 200 ms");
  const Error unsent = error_from_connection(ConnectionError{false, "backlog full", false, true});
  EXPECT_EQ(unsent.code, Errc::timeout);
  EXPECT_FALSE(unsent.maybe_applied);
  EXPECT_EQ(to_string(Errc::timeout), "timeout");
  EXPECT_EQ(static_cast<int>(Errc::timeout), 30) << "the value pre-assigned to it";
}

}  // namespace
}  // namespace shmreg::client_detail
