/*
 * privdrop: privileges and the files that hold secrets. estrad binds its
 * ports and reads its keys as whoever started it, then, when "user" is
 * set, becomes that user (and "group", else the user's primary group) for
 * good: setgroups, setgid, setuid, verified. Started as root without
 * "user", it refuses to run unless "run_as_root" says so explicitly.
 */
#ifndef ESTRAD_PRIVDROP_H
#define ESTRAD_PRIVDROP_H

#include <stddef.h>

#include "estrad/config.h"

/* Before binding anything: root without "user" or "run_as_root" is
 * refused at once. 0, or -1 with err. */
int privdrop_refuse_root(const struct config *cfg, char *err,
    size_t errlen);
/*
 * Before the drop: what estrad created as root and goes on writing (the
 * state_dir, its database, WAL and lock files, the audit file) becomes
 * the user's, so `estrad queue` and the next start work as that user.
 * Nothing to do unless root with "user". 0, or -1 with err.
 */
int privdrop_hand_over(const struct config *cfg, char *err, size_t errlen);
/* Drop to cfg->user/group, or refuse root. 0, or -1 with err. */
int privdrop_apply(const struct config *cfg, char *err, size_t errlen);

/*
 * A file holding a private key or a secret must be readable by its owner
 * only: -1 with "PATH is readable by group or others (mode 0644); chmod
 * 600 it" in err when it is not (or cannot be stat'ed), else 0.
 */
int privdrop_check_secret(const char *path, char *err, size_t errlen);

#endif
