// What the client's other source files (semantics.cpp) need of a Client's
// private state: a round trip to the broker with pidfds alongside, the
// segment reader, and the mapping of broker replies to public errors.
// Client::Impl stays inside client.cpp.
//
// Thread-safety: as Client; exchange() takes the client's connection mutex.
#pragma once

#include <span>
#include <vector>

#include "shmreg/proto/wire.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::client_detail {

// REQUIRES: impl is a live Client's impl_.
// One batch to the broker with pidfds as SCM_RIGHTS; the results in order.
// Fails only when the batch could not be exchanged.
Result<std::vector<proto::OpResult>> exchange(Client::Impl* impl, const std::vector<proto::Op>& ops,
                                              std::span<const int> pidfds = {});
const shm::SegmentReader& reader_of(const Client::Impl* impl) noexcept;
// The public error for a result whose status is not ok.
Error error_from_reply(const proto::OpResult& r);

}  // namespace shmreg::client_detail
