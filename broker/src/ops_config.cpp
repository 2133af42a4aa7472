// The config family: static entries, reload and status.
//
// The wire ops exist (proto/wire.hpp); the broker's handlers land with the
// configuration work of issue 10. Until then each is refused by name.
#include "ops.hpp"
#include "status.hpp"

namespace shmreg::broker {

namespace {
proto::OpResult not_yet(const char* op) {
  return refusal(proto::Status::invalid_argument, std::string(op) + " is not supported by this broker yet");
}
}  // namespace

proto::OpResult set_static(OpContext&, Request&, const proto::SetStatic&) { return not_yet("set_static"); }
proto::OpResult unset_static(OpContext&, Request&, const proto::UnsetStatic&) { return not_yet("unset_static"); }
proto::OpResult reload(OpContext&, Request&, const proto::Reload&) { return not_yet("reload"); }
proto::OpResult get_status(OpContext&, Request&, const proto::GetStatus&) { return not_yet("get_status"); }

}  // namespace shmreg::broker
