// The command families of the `shmreg` CLI, one file each. Each family adds
// its subcommands to the table, every command with its options, flags, help
// and run function together; main calls them in this order, which is the
// order of `shmreg --help`.
//
//   registries    ping, create                            (cmd_registries.cpp)
//   registration  register, unregister, unregister-match  (cmd_registration.cpp)
//   lookups       lookup, keys, count, list, match, count-match, select,
//                 count-select, values                    (cmd_lookups.cpp)
//   values        update, meta, put-meta, delete-meta     (cmd_values.cpp)
//   events        watch, await, queue                     (cmd_events.cpp,
//                                                          await: cmd_await.cpp)
//   mailboxes     send, receive                           (cmd_mailboxes.cpp)
//   config        set, unset, reload, status              (cmd_config.cpp,
//                                                          status: cmd_status.cpp)
//   segment       registries, dump, fsck                  (cmd_segment.cpp)
//   cluster       cluster status, cluster members         (cmd_cluster.cpp)
//
// Thread-safety: for main's thread.
#pragma once

#include "cli.hpp"

namespace shmreg::tools {

void add_registries_commands(cli::CommandTable& table);
void add_registration_commands(cli::CommandTable& table);
void add_lookups_commands(cli::CommandTable& table);
void add_values_commands(cli::CommandTable& table);
void add_events_commands(cli::CommandTable& table);
void add_mailboxes_commands(cli::CommandTable& table);
void add_config_commands(cli::CommandTable& table);
// The parts of a family that live in a file of their own.
void add_await_command(cli::CommandTable& table);
void add_status_command(cli::CommandTable& table);
void add_segment_commands(cli::CommandTable& table);
void add_cluster_commands(cli::CommandTable& table);

}  // namespace shmreg::tools
