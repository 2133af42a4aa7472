// The broker's error contract (broker/src/status.hpp): every shm::Errc an op
// can meet reaches the client as the status of the same meaning.
#include "status.hpp"

#include <gtest/gtest.h>

namespace shmreg::broker {
namespace {

using shm::Errc;
using proto::Status;

TEST(StatusOf, EveryWriteOutcomeReachesTheClientAsItself) {
  const std::pair<Errc, Status> same[] = {
      {Errc::permission_denied, Status::permission_denied},
      {Errc::registry_not_found, Status::registry_not_found},
      {Errc::registry_exists, Status::registry_exists},
      {Errc::too_many_registries, Status::too_many_registries},
      {Errc::invalid_argument, Status::invalid_argument},
      {Errc::key_too_long, Status::key_too_long},
      {Errc::value_too_long, Status::value_too_long},
      {Errc::already_registered, Status::already_registered},
      {Errc::not_found, Status::not_found},
      {Errc::registry_full, Status::registry_full},
      {Errc::owner_table_full, Status::owner_table_full},
      {Errc::segment_full, Status::segment_full},
      {Errc::version_conflict, Status::version_conflict},
      {Errc::meta_too_large, Status::meta_too_large},
      {Errc::stale_owner, Status::stale_owner},
      {Errc::io_error, Status::io_error},
  };
  for (auto [e, s] : same) EXPECT_EQ(status_of(e), s) << shm::to_string(e);
}

TEST(StatusOf, ACorruptSegmentAndExhaustedRetriesHaveTheirOwnStatuses) {
  EXPECT_EQ(status_of(Errc::corrupt), Status::segment_corrupt);
  EXPECT_EQ(status_of(Errc::retry_exhausted), Status::busy);
}

TEST(StatusOf, OutcomesOfOpeningASegmentAreTheBrokersInternalErrors) {
  for (Errc e : {Errc::segment_not_found, Errc::segment_exists, Errc::no_space, Errc::bad_magic,
                 Errc::version_mismatch, Errc::abi_mismatch, Errc::segment_truncated})
    EXPECT_EQ(status_of(e), Status::internal_error) << shm::to_string(e);
}

TEST(ErrorResult, CarriesTheMappedStatusAndTheErrcTextUnlessGivenAMessage) {
  auto r = error_result(Errc::meta_too_large);
  EXPECT_EQ(r.status, Status::meta_too_large);
  EXPECT_EQ(r.message, shm::to_string(Errc::meta_too_large));
  EXPECT_EQ(error_result(Errc::not_found, "pid 7 has no entry").message, "pid 7 has no entry");
}

TEST(Refusal, CutsAVeryLongMessage) {
  auto r = refusal(Status::invalid_argument, std::string(5000, 'p'));
  EXPECT_EQ(r.status, Status::invalid_argument);
  EXPECT_LT(r.message.size(), 1100u);
}

}  // namespace
}  // namespace shmreg::broker
