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
 * Before anything opens them (the store, the audit log): what estrad
 * writes as the user (the state_dir, its database, WAL, shared-memory and
 * lock files, the audit file) becomes the user's, and with create the
 * state_dir, database, lock and audit files are made first (0700, 0600),
 * so that they are the user's from birth. Never through a symbolic link
 * or a file with another hard link. Nothing to do unless root with
 * "user". 0, or -1 with err. It opens and closes each file, which would
 * drop this process's POSIX locks on it: never call it once they are open.
 */
int privdrop_hand_over(const struct config *cfg, int create, char *err,
    size_t errlen);
/*
 * For `estrad queue`: run as root with "user" set, hand the state files
 * that exist over (creating none) and become the user for good, quietly,
 * so that the command can leave no file of root's behind. Otherwise
 * nothing. 0, or -1 with err.
 */
int privdrop_command(const struct config *cfg, char *err, size_t errlen);
/* Drop to cfg->user/group, or refuse root. 0, or -1 with err. */
int privdrop_apply(const struct config *cfg, char *err, size_t errlen);

/*
 * A file holding a private key or a secret must be readable by its owner
 * only: -1 with "PATH is readable by group or others (mode 0644); chmod
 * 600 it" in err when it is not (or cannot be stat'ed), else 0.
 */
/*
 * What the configured user can do to one path: read it (open O_RDONLY),
 * or, with search, reach it (the directory above it searchable).
 */
struct privdrop_probe {
	const char	*path;
	int		 search;
	int		 err;		/* out: 0, or the errno the user got */
};
/*
 * Try every probe as the configured user, in a forked child that drops as
 * privdrop_apply does (setgroups, setgid, setuid): the kernel's answer,
 * ACLs and all. Returns 1 when probed, 0 when there is nothing to check
 * (not root, or no "user"), -1 with err when the child failed.
 */
int privdrop_probe(const struct config *cfg, struct privdrop_probe *p,
    size_t n, char *err, size_t errlen);

int privdrop_check_secret(const char *path, char *err, size_t errlen);

#endif
