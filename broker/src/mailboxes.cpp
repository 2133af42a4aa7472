// The broker's mailboxes and send-by-name routing (see mailboxes.hpp).
#include "mailboxes.hpp"

#include <optional>
#include <string>

namespace shmreg::broker {

namespace {

using proto::OpResult;
using proto::Status;

OpResult fail(Status s, std::string message, std::string data = {}) {
  return OpResult{s, 0, std::move(message), std::move(data)};
}

}  // namespace

OpResult Mailboxes::open(const std::shared_ptr<MailboxSink>& sink) {
  const Peer& peer = sink->mailbox_owner();
  auto it = slots_.find(peer.pid);
  if (it != slots_.end()) {
    auto current = it->second.sink.lock();
    if (current == sink) return OpResult{Status::ok, 0, {}, {}};
    // A mailbox of a process that held this pid before is stale.
    if (current && !current->hung_up() && current->mailbox_owner().identity.value == peer.identity.value)
      return fail(Status::mailbox_exists, "process " + std::to_string(peer.pid) +
                                              " already has a mailbox open on another connection");
  }
  slots_[peer.pid] = Slot{sink, 0};
  return OpResult{Status::ok, 0, {}, {}};
}

void Mailboxes::close(const MailboxSink* sink) noexcept {
  const auto it = slots_.find(sink->mailbox_owner().pid);
  if (it == slots_.end()) return;
  auto current = it->second.sink.lock();
  if (!current || current.get() == sink) slots_.erase(it);
}

bool Mailboxes::is_open(const MailboxSink* sink) const {
  const auto it = slots_.find(sink->mailbox_owner().pid);
  return it != slots_.end() && it->second.sink.lock().get() == sink;
}

Mailboxes::Slot* Mailboxes::usable(std::uint32_t pid) {
  const auto it = slots_.find(static_cast<pid_t>(pid));
  if (it == slots_.end()) return nullptr;
  auto sink = it->second.sink.lock();
  if (!sink) {
    slots_.erase(it);
    return nullptr;
  }
  // Closed at the client's end (the owner died or dropped its mailbox), even
  // if the broker has not read the end of the stream yet.
  if (sink->hung_up()) return nullptr;
  // The entries under pid belong to the process the broker watches; a
  // mailbox opened by another process with that pid is not theirs.
  auto watched = watched_.watched_identity(static_cast<pid_t>(pid));
  if (!watched || watched->value != sink->mailbox_owner().identity.value) return nullptr;
  return &it->second;
}

OpResult Mailboxes::send(const Caller& sender, const proto::SendMessage& op, std::span<const std::uint32_t> owner_pids,
                         std::size_t& data_budget) {
  if (op.body.size() > proto::kMaxMessageBody)
    return fail(Status::message_too_large, "message of " + std::to_string(op.body.size()) +
                                               " bytes; the maximum is " + std::to_string(proto::kMaxMessageBody));
  if (owner_pids.empty()) return fail(Status::not_found, "no process owns key '" + op.key + "' in " + op.registry);
  // The report's largest size, before anything is sent.
  const std::size_t report_bytes = 12 + 4 * owner_pids.size();
  if (report_bytes > data_budget)
    return fail(Status::reply_too_large, "the send reports of this batch would not fit in one reply; send in smaller batches");
  data_budget -= report_bytes;
  proto::SendReport report;
  bool over_budget = false;
  std::optional<uid_t> share_held_by;  // a receiving uid that holds its share of the sender's budget
  for (std::uint32_t pid : owner_pids) {
    Slot* slot = usable(pid);
    if (slot == nullptr) {
      ++report.no_mailbox;
      continue;
    }
    proto::Message m{static_cast<std::uint32_t>(sender.pid), static_cast<std::uint32_t>(sender.uid), slot->dropped,
                     op.registry, op.key, op.body};
    auto sink = slot->sink.lock();  // usable() checked it is alive
    const auto delivery = sink ? sink->deliver(proto::encode_message(m), sender.uid) : MailboxSink::Delivery::mailbox_full;
    if (delivery == MailboxSink::Delivery::queued) {
      slot->dropped = 0;
      report.delivered_to.push_back(pid);
    } else {
      over_budget = over_budget || delivery == MailboxSink::Delivery::sender_budget;
      if (delivery == MailboxSink::Delivery::receiver_share) share_held_by = sink->mailbox_owner().uid;
      ++slot->dropped;
      ++report.mailbox_full;
    }
  }
  std::string data = proto::encode_send_report(report);
  if (!report.delivered_to.empty())
    return OpResult{Status::ok, report.delivered_to.size(), {}, std::move(data)};
  if (over_budget)
    return fail(Status::mailbox_full,
                "the messages of uid " + std::to_string(sender.uid) + " still queued in mailboxes would pass its budget of " +
                    std::to_string(limits_.mailbox_bytes_per_uid) + " bytes (--mailbox-bytes-per-uid); the message was dropped",
                std::move(data));
  if (share_held_by)
    return fail(Status::mailbox_full,
                "the mailboxes of uid " + std::to_string(*share_held_by) + " already hold " +
                    std::to_string(limits_.mailbox_bytes_per_receiver_uid) + " bytes of uid " + std::to_string(sender.uid) +
                    "'s messages unread (--mailbox-bytes-per-receiver-uid); the message was dropped",
                std::move(data));
  if (report.mailbox_full > 0) {
    std::string why = owner_pids.size() == 1
                          ? "the mailbox of the owner (pid " + std::to_string(owner_pids[0]) + ") is full"
                          : "no owner's mailbox took it: " + std::to_string(report.mailbox_full) + " full, " +
                                std::to_string(report.no_mailbox) + " without a mailbox";
    return fail(Status::mailbox_full, why + "; the message was dropped", std::move(data));
  }
  std::string why = owner_pids.size() == 1
                        ? "the owner of key '" + op.key + "' (pid " + std::to_string(owner_pids[0]) + ") has no"
                        : "none of the " + std::to_string(owner_pids.size()) + " owners of key '" + op.key + "' has an";
  return fail(Status::no_mailbox, why + " open mailbox", std::move(data));
}

}  // namespace shmreg::broker
