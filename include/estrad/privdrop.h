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

/* Drop to cfg->user/group, or refuse root. 0, or -1 with err. */
int privdrop_apply(const struct config *cfg, char *err, size_t errlen);

/*
 * A file holding a private key or a secret must be readable by its owner
 * only: -1 with "PATH is readable by group or others (mode 0644); chmod
 * 600 it" in err when it is not (or cannot be stat'ed), else 0.
 */
int privdrop_check_secret(const char *path, char *err, size_t errlen);

#endif
