// What the op families share: the broker's reader, and who an op acts for
// (see ops.hpp).
#include "ops.hpp"

#include "status.hpp"
#include "target.hpp"

namespace shmreg::broker {

std::expected<const shm::SegmentReader*, proto::OpResult> own_reader(OpContext& ctx) {
  if (!ctx.reader) {
    auto r = shm::SegmentReader::open(ctx.config.paths.segment());
    if (!r)
      return std::unexpected(refusal(proto::Status::internal_error,
                                     "the broker cannot map its own segment: " + std::string(shm::to_string(r.error()))));
    ctx.reader.emplace(std::move(*r));
  }
  return &*ctx.reader;
}

std::expected<Owner, proto::OpResult> owner_for(const Request& req, std::uint8_t target) {
  if (target == 0) return req.caller.as_owner();
  if (target > req.caller.passed_pidfds.size())
    return std::unexpected(refusal(proto::Status::invalid_argument,
                                   "no pidfd #" + std::to_string(target) +
                                       " came with this request; pass the target's pidfd with SCM_RIGHTS"));
  const int fd = req.caller.passed_pidfds[target - 1].get();
  auto t = target_of(fd, req.caller.uid);
  if (!t) return std::unexpected(refusal(t.error().status, t.error().message));
  return Owner{t->pid, t->uid, t->identity, std::move(t->groups), fd};
}

}  // namespace shmreg::broker
