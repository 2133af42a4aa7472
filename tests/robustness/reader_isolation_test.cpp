// Invariant 4, its other half: a reader never blocks the broker, and the
// broker never waits for a reader. Readers take no lock and store nothing in
// the segment, so a reader stopped anywhere, even inside a lookup, holds
// nothing a write needs. Were the writer ever to wait for readers (a reader
// count to drain, a lock readers take), the writes below would not finish.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>

#include "client_test.hpp"

namespace shmreg::test {
namespace {

class ReaderIsolation : public ClientTest {};

TEST_F(ReaderIsolation, AReaderStoppedInTheMiddleOfItsLookupsNeverBlocksTheBrokersWrites) {
  auto c = client();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->create_registry("svc"));

  // A reader that does nothing but look keys up, then is frozen wherever it
  // is (SIGSTOP), most likely inside a validated read.
  ForkedChild reader = ForkedChild::start([&](ChildChannel& ch) {
    auto rc = shmreg::Client::open({ns(), socket_path()});
    if (!rc) return child_report(ch, "cannot open a client: " + rc.error().message);
    auto reg = rc->registry("svc");
    if (!reg) return child_report(ch, "cannot open the registry: " + reg.error().message);
    ch.send("ready");
    for (std::uint64_t i = 0;; ++i) {
      (void)reg->lookup("k" + std::to_string(i % 64));
      (void)reg->count();
    }
  });
  ASSERT_EQ(reader.receive(), "ready");
  ASSERT_TRUE(reader.signal(SIGSTOP));

  // Writes that insert, replace and remove records under the reader's feet,
  // from another process, with a deadline: a broker that waited for the
  // stopped reader would never answer.
  ForkedChild writer = ForkedChild::start([&](ChildChannel& ch) {
    auto wc = shmreg::Client::open({ns(), socket_path()});
    if (!wc) return child_report(ch, "cannot open a client: " + wc.error().message);
    for (int i = 0; i < 200; ++i) {
      const std::string key = "k" + std::to_string(i % 64);
      if (auto r = wc->register_key("svc", key, "v" + std::to_string(i)); !r)
        return child_report(ch, "register " + key + ": " + r.error().message);
      if (auto r = wc->unregister("svc", key); !r) return child_report(ch, "unregister " + key + ": " + r.error().message);
    }
    ch.send("done");
    return 0;
  });
  EXPECT_EQ(writer.receive(), "done") << "the broker's writes stalled behind a stopped reader";

  ASSERT_TRUE(reader.signal(SIGCONT));
  EXPECT_TRUE(reader.running()) << "the reader must survive the writes it raced";
}

}  // namespace
}  // namespace shmreg::test
