/* A C program using an installed libshmreg through its C ABI, built with
 *   cc -std=c11 register_lookup.c $(pkg-config --cflags --libs shmreg)
 * It is the example of docs/c-api.md, and tests/install/install_test.sh runs
 * it against a broker it started.
 *
 * It opens the namespace named by $SHMREG_NAMESPACE (and $SHMREG_SOCKET),
 * creates the registry "services", registers a key (argv[1], else "db")
 * for itself, and looks it up twice: copied into a buffer, and in place with a callback. Exit status
 * 0 means both lookups saw the value it registered. */
#include <shmreg/shmreg.h>

#include <stdio.h>
#include <string.h>

/* The zero-copy callback may run more than once (a read torn by a
 * concurrent write is retried), so it only copies, overwriting what an
 * earlier call copied. */
struct copy {
  char value[64];
  size_t len;
};

static void copy_first(void *ctx, const shmreg_entry *entries, size_t count) {
  struct copy *out = ctx;
  out->len = 0;
  if (count > 0 && entries[0].value_len <= sizeof out->value) {
    memcpy(out->value, entries[0].value, entries[0].value_len);
    out->len = entries[0].value_len;
  }
}

static int report(const char *what, int rc) {
  fprintf(stderr, "%s: %s: %s\n", what, shmreg_strerror(rc), shmreg_last_error());
  return 1;
}

int main(int argc, char **argv) {
  const char *key = argc > 1 ? argv[1] : "db";
  const size_t key_len = strlen(key);
  static const char value[] = "10.0.0.5:5432";
  const size_t value_len = sizeof value - 1;
  shmreg_client *client = NULL;
  int rc = shmreg_open(NULL, NULL, 5000, &client); /* the environment's namespace; 5 s per broker call */
  if (rc != SHMREG_OK) return report("open", rc);

  int status = 1;
  shmreg_registry *services = NULL;
  if ((rc = shmreg_registry_create(client, "services", NULL)) != SHMREG_OK) {
    report("create", rc);
  } else if ((rc = shmreg_register(client, "services", key, key_len, value, value_len, NULL)) != SHMREG_OK) {
    report("register", rc);
  } else if ((rc = shmreg_registry_open(client, "services", &services)) != SHMREG_OK) {
    report("registry", rc);
  } else {
    char buf[64];
    size_t len = 0;
    struct copy seen = {.len = 0};
    if ((rc = shmreg_lookup_value(services, key, key_len, buf, sizeof buf, &len)) != SHMREG_OK) {
      report("lookup", rc);
    } else if ((rc = shmreg_lookup_views(services, key, key_len, copy_first, &seen, NULL)) != SHMREG_OK) {
      report("lookup in place", rc);
    } else if (len != value_len || memcmp(buf, value, len) != 0 || seen.len != value_len ||
               memcmp(seen.value, value, value_len) != 0) {
      fprintf(stderr, "lookup: got '%.*s' and '%.*s', want '%s'\n", (int)len, buf, (int)seen.len, seen.value,
              value);
    } else {
      printf("ok: %s = %.*s\n", key, (int)len, buf);
      status = 0;
    }
  }
  shmreg_registry_close(services);
  shmreg_close(client);
  return status;
}
