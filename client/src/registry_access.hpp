// What the client's other source files (query.cpp) need of a Registry's
// private state: its reader and view, and the mapping of reader errors to the
// public ones. Client::Impl and Registry::Impl stay inside client.cpp.
//
// Thread-safety: as Registry; the functions only read immutable state.
#pragma once

#include "shmreg/shm/reader.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::client_detail {

// REQUIRES: impl is a live Registry's impl_.
const shm::SegmentReader& reader_of(const Registry::Impl* impl) noexcept;
const shm::RegistryView& view_of(const Registry::Impl* impl) noexcept;
Error error_from_reader(shm::Errc e);

}  // namespace shmreg::client_detail
