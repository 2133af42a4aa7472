// The C ABI, op family "mailboxes": send by name, and the receiving
// mailbox handing out one message at a time.
#include "c_api_state.hpp"

using namespace shmreg::c_api;

extern "C" {

int shmreg_send(const shmreg_client* client, const char* registry, const char* key, size_t key_len,
                const char* body, size_t body_len, size_t* delivered) {
  return c_call([&]() -> int {
    if (client == nullptr) return null_argument("client");
    if (registry == nullptr) return null_argument("registry");
    if (!is_bytes(key, key_len)) return null_bytes("key");
    if (!is_bytes(body, body_len)) return null_bytes("body");
    auto report = client->client.send(registry, view(key, key_len), view(body, body_len));
    if (!report) return fail(report.error());
    if (delivered) *delivered = report->delivered_to.size();
    return SHMREG_OK;
  });
}

int shmreg_mailbox_open(const shmreg_client* client, shmreg_mailbox** out) {
  return c_call([&]() -> int {
    if (client == nullptr) return null_argument("client");
    if (out == nullptr) return null_argument("out");
    auto mailbox = shmreg::Mailbox::open(client->client);
    if (!mailbox) return fail(mailbox.error());
    *out = new shmreg_mailbox{std::move(*mailbox), {}};
    return SHMREG_OK;
  });
}

int shmreg_mailbox_receive(shmreg_mailbox* mailbox, int64_t timeout_ms, shmreg_message* message) {
  return c_call([&]() -> int {
    if (mailbox == nullptr) return null_argument("mailbox");
    if (message == nullptr) return null_argument("message");
    auto timeout = timeout_of(timeout_ms);
    if (!timeout) return SHMREG_INVALID_ARGUMENT;
    auto m = mailbox->mailbox.receive(*timeout);
    if (!m) return fail(m.error());
    if (!*m) return fail_timeout("no message", timeout_ms);
    mailbox->current = std::move(**m);
    const shmreg::Message& c = mailbox->current;
    *message = shmreg_message{c.registry.c_str(), c.key.data(), c.key.size(), c.body.data(), c.body.size(),
                              c.sender_pid,       c.sender_uid, c.dropped};
    return SHMREG_OK;
  });
}

int shmreg_mailbox_fd(const shmreg_mailbox* mailbox) { return mailbox ? mailbox->mailbox.fd() : -1; }

void shmreg_mailbox_close(shmreg_mailbox* mailbox) { delete mailbox; }

}  // extern "C"
