// libshmreg: the whole public C++ API of shmreg, in one include.
//
// A host-wide registry of names for processes. A Client (shmreg/client.hpp)
// maps one namespace's segment read-only and sends writes to the broker; a
// Registry (shmreg/registry.hpp) reads one registry of it without a syscall;
// events and watchers (shmreg/events.hpp) follow its changes; a Mailbox
// (shmreg/mailbox.hpp) receives messages sent by name; the broker's
// configuration and use are plain values (shmreg/broker_status.hpp). Every call returns a
// Result and never throws (shmreg/error.hpp). Include the parts, or this.
//
// Thread-safety: as each part says; Client and Registry are safe to share
// between threads, Watcher and Mailbox are not.
#pragma once

#include "shmreg/broker_status.hpp"
#include "shmreg/client.hpp"
#include "shmreg/error.hpp"
#include "shmreg/events.hpp"
#include "shmreg/mailbox.hpp"
#include "shmreg/registry.hpp"
