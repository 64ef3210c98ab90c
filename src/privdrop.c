/*
 * privdrop: who estrad runs as, and which files may hold its secrets.
 *
 * The order at start-up (main.c) is: load the config (every key and secret
 * file read, every file checked here), hand the state files over to the
 * user (privdrop_hand_over, before anything opens them), open the store
 * and bind the listeners, then privdrop_apply(). After it the process
 * cannot become root again: the drop is verified, not assumed. A reload
 * then reads files as the unprivileged user, so the keys must stay
 * readable by it (or the reload fails and the old config stays).
 *
 * Why the hand-over comes first: handing a file over means opening and
 * closing it, and close() drops every POSIX lock the process holds on
 * that file, through any descriptor. Done after SQLite opened the
 * database, it silently released SQLite's locks, and the next connection
 * of another process (`estrad queue list`, a backup) took itself for the
 * last one and removed the WAL the daemon was still writing: acknowledged
 * enrollments were lost at the next crash (SQLite's "How To Corrupt An
 * SQLite Database File", §2.2). Before any open there is no lock to lose;
 * SQLite, running as root, gives the -wal and -shm it creates to the
 * owner of the database file, which by then is the user.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "estrad/log.h"
#include "estrad/privdrop.h"
#include "estrad/store.h"

/* The user's and group's ids, or -1 with err. */
static int
privdrop_lookup(const struct config *cfg, uid_t *uid, gid_t *gid, char *err,
    size_t errlen)
{
	struct passwd	*pw;
	struct group	*gr;

	errno = 0;
	if ((pw = getpwnam(cfg->user)) == NULL) {
		snprintf(err, errlen, "user \"%s\": %s", cfg->user,
		    errno ? strerror(errno) : "no such user");
		return -1;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errlen, "user \"%s\" is root (uid 0): name an "
		    "unprivileged user", cfg->user);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (cfg->group == NULL)
		return 0;
	errno = 0;
	if ((gr = getgrnam(cfg->group)) == NULL) {
		snprintf(err, errlen, "group \"%s\": %s", cfg->group,
		    errno ? strerror(errno) : "no such group");
		return -1;
	}
	*gid = gr->gr_gid;
	return 0;
}

int
privdrop_refuse_root(const struct config *cfg, char *err, size_t errlen)
{
	if ((getuid() == 0 || geteuid() == 0) && cfg->user == NULL &&
	    !cfg->run_as_root) {
		snprintf(err, errlen, "running as root: set \"user\" (or "
		    "\"run_as_root\": true to allow it)");
		return -1;
	}
	return 0;
}

enum privdrop_kind {
	PRIVDROP_DIR,		/* made if missing */
	PRIVDROP_DIR_IF_THERE,
	PRIVDROP_FILE_CREATE,	/* made if missing */
	PRIVDROP_FILE_IF_THERE
};

/*
 * Give name (in the directory dirfd, or AT_FDCWD; shown is its path for
 * errors) to uid/gid, making it first when told (a directory 0700, a file
 * 0600); one not there is otherwise fine. Never through a symbolic link,
 * never a file with a second hard link: the directory may already belong
 * to that user, who could otherwise point a name at a file of root's and
 * have root give it away. With keep, the descriptor (a directory's, for
 * the openat of its files) is left open in *keep (-1 when not there).
 *
 * This opens and closes the file, and close() drops every POSIX lock the
 * process holds on it (SQLite's among them): call it only before anything
 * in this process has opened it.
 */
static int
privdrop_give(int dirfd, const char *name, const char *shown,
    enum privdrop_kind kind, uid_t uid, gid_t gid, int *keep, char *err,
    size_t errlen)
{
	struct stat	st;
	int		fd, dir = kind == PRIVDROP_DIR ||
			    kind == PRIVDROP_DIR_IF_THERE;

	if (keep != NULL)
		*keep = -1;
	if (kind == PRIVDROP_DIR && mkdirat(dirfd, name, 0700) == -1 &&
	    errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", shown, strerror(errno));
		return -1;
	}
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC | (dir ? O_DIRECTORY : 0) |
	    (kind == PRIVDROP_FILE_CREATE ? O_CREAT : 0), 0600);
	if (fd == -1) {
		if (errno == ENOENT && (kind == PRIVDROP_FILE_IF_THERE ||
		    kind == PRIVDROP_DIR_IF_THERE))
			return 0;
		snprintf(err, errlen, "%s: %s", shown, errno == ELOOP ?
		    "is a symbolic link; refusing to hand it over" :
		    strerror(errno));
		return -1;
	}
	errno = 0;
	if (fstat(fd, &st) != 0 || (dir ? !S_ISDIR(st.st_mode) :
	    !S_ISREG(st.st_mode)) || (!dir && st.st_nlink != 1) ||
	    fchown(fd, uid, gid) != 0) {
		snprintf(err, errlen, "%s: cannot hand it to the user: %s",
		    shown, errno ? strerror(errno) : dir ? "not a directory" :
		    !S_ISREG(st.st_mode) ? "not a regular file" :
		    "it has another hard link");
		close(fd);
		return -1;
	}
	if (keep != NULL)
		*keep = fd;
	else
		close(fd);
	return 0;
}

/*
 * The state_dir and its files, these opened relative to the directory
 * just checked (openat), so that a swap of the directory for a link in
 * between cannot send root elsewhere.
 */
static int
privdrop_give_state(const char *dir, int create, uid_t uid, gid_t gid,
    char *err, size_t errlen)
{
	const struct store_file	*f;
	char			 shown[4096];
	int			 dfd, rc = 0;

	if (privdrop_give(AT_FDCWD, dir, dir, create ? PRIVDROP_DIR :
	    PRIVDROP_DIR_IF_THERE, uid, gid, &dfd, err, errlen) != 0)
		return -1;
	for (f = store_files; dfd != -1 && rc == 0 && f->name != NULL; f++) {
		snprintf(shown, sizeof(shown), "%s/%s", dir, f->name);
		rc = privdrop_give(dfd, f->name, shown, create && f->create ?
		    PRIVDROP_FILE_CREATE : PRIVDROP_FILE_IF_THERE, uid, gid,
		    NULL, err, errlen);
	}
	if (dfd != -1)
		close(dfd);
	return rc;
}

int
privdrop_hand_over(const struct config *cfg, int create, char *err,
    size_t errlen)
{
	uid_t	uid;
	gid_t	gid;

	if ((getuid() != 0 && geteuid() != 0) || cfg->user == NULL)
		return 0;
	if (privdrop_lookup(cfg, &uid, &gid, err, errlen) != 0)
		return -1;
	if (cfg->state_dir != NULL && privdrop_give_state(cfg->state_dir,
	    create, uid, gid, err, errlen) != 0)
		return -1;
	if (cfg->audit.file != NULL && privdrop_give(AT_FDCWD,
	    cfg->audit.file, cfg->audit.file, create ? PRIVDROP_FILE_CREATE :
	    PRIVDROP_FILE_IF_THERE, uid, gid, NULL, err, errlen) != 0)
		return -1;
	return 0;
}

/*
 * HOME is the user's from now on, as login(1) makes it: libpq looks in
 * $HOME/.postgresql for a client certificate and takes a file it may not
 * open (root's, after the drop) for an error, not an absence, so every
 * connection to the shared store failed for a daemon started by root
 * with "user". Without a passwd entry, no HOME: libpq then has none.
 */
static void
privdrop_home(uid_t uid)
{
	struct passwd *pw = getpwuid(uid);

	if (pw == NULL || pw->pw_dir == NULL || setenv("HOME", pw->pw_dir,
	    1) != 0)
		unsetenv("HOME");
}

/* Become uid:gid for good, and check that it took. */
static int
privdrop_become(const struct config *cfg, uid_t uid, gid_t gid, char *err,
    size_t errlen)
{
	/* Groups first: without uid 0 there is no changing them. */
	if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
		snprintf(err, errlen, "cannot become user \"%s\" (uid %lu, gid "
		    "%lu): %s", cfg->user, (unsigned long)uid,
		    (unsigned long)gid, strerror(errno));
		return -1;
	}
	if (setuid(0) != -1 || getuid() != uid || geteuid() != uid ||
	    getgid() != gid || getegid() != gid) {
		snprintf(err, errlen, "dropping to user \"%s\" did not take: "
		    "root could be regained", cfg->user);
		return -1;
	}
	privdrop_home(uid);
	return 0;
}

int
privdrop_command(const struct config *cfg, char *err, size_t errlen)
{
	uid_t	uid;
	gid_t	gid;

	if ((getuid() != 0 && geteuid() != 0) || cfg->user == NULL)
		return 0;
	if (privdrop_hand_over(cfg, 0, err, errlen) != 0 ||
	    privdrop_lookup(cfg, &uid, &gid, err, errlen) != 0)
		return -1;
	return privdrop_become(cfg, uid, gid, err, errlen);
}

int
privdrop_apply(const struct config *cfg, char *err, size_t errlen)
{
	uid_t	uid;
	gid_t	gid;

	if (getuid() != 0 && geteuid() != 0)
		return 0;	/* nothing to give up */
	if (cfg->user == NULL) {
		if (cfg->run_as_root) {
			log_warn("running as root (\"run_as_root\": true)");
			return 0;
		}
		snprintf(err, errlen, "running as root: set \"user\" (or "
		    "\"run_as_root\": true to allow it)");
		return -1;
	}
	if (privdrop_lookup(cfg, &uid, &gid, err, errlen) != 0 ||
	    privdrop_become(cfg, uid, gid, err, errlen) != 0)
		return -1;
	log_info("running as user %s (uid %lu), group %s (gid %lu)",
	    cfg->user, (unsigned long)uid, cfg->group ? cfg->group :
	    "of the user", (unsigned long)gid);
	return 0;
}

/* In the child, as the user: one probe's errno (0: allowed). */
static int
privdrop_try(const struct privdrop_probe *p)
{
	char	 dir[4096], *slash;
	int	 fd;

	if (p->search) {
		snprintf(dir, sizeof(dir), "%s", p->path);
		if ((slash = strrchr(dir, '/')) == NULL)
			snprintf(dir, sizeof(dir), ".");
		else
			slash[slash == dir] = '\0';	/* "/x": "/" */
		return access(dir, X_OK) == 0 ? 0 : errno;
	}
	/* O_NONBLOCK: a FIFO named as a key must not hang the check. */
	if ((fd = open(p->path, O_RDONLY | O_NOCTTY | O_NONBLOCK |
	    O_CLOEXEC)) == -1)
		return errno;
	close(fd);
	return 0;
}

/* The child: drop, probe, write one int per probe to fd, exit. */
static void
privdrop_probe_child(const struct config *cfg, uid_t uid, gid_t gid,
    const struct privdrop_probe *p, size_t n, int fd)
{
	char	 err[256];
	int	 e;

	if (privdrop_become(cfg, uid, gid, err, sizeof(err)) != 0)
		_exit(2);
	for (size_t i = 0; i < n; i++) {
		e = privdrop_try(&p[i]);
		if (write(fd, &e, sizeof(e)) != (ssize_t)sizeof(e))
			_exit(3);
	}
	_exit(0);
}

int
privdrop_probe(const struct config *cfg, struct privdrop_probe *p, size_t n,
    char *err, size_t errlen)
{
	uid_t	 uid;
	gid_t	 gid;
	pid_t	 pid;
	int	 fds[2], status, e;
	size_t	 got = 0;
	ssize_t	 r;

	if ((getuid() != 0 && geteuid() != 0) || cfg->user == NULL)
		return 0;
	/* The name is looked up here, not in the child (NSS after fork). */
	if (privdrop_lookup(cfg, &uid, &gid, err, errlen) != 0)
		return -1;
	if (pipe(fds) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		privdrop_probe_child(cfg, uid, gid, p, n, fds[1]);
	}
	close(fds[1]);
	while (got < n && ((r = read(fds[0], &e, sizeof(e))) ==
	    (ssize_t)sizeof(e) || (r == -1 && errno == EINTR)))
		if (r > 0)
			p[got++].err = e;
	close(fds[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (got < n) {
		snprintf(err, errlen, "cannot check the files as user \"%s\": "
		    "the check did not finish", cfg->user);
		return -1;
	}
	return 1;
}

int
privdrop_check_secret(const char *path, char *err, size_t errlen)
{
	struct stat st;

	/* stat, not lstat: the mode that matters is the target's. */
	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "cannot stat %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		return -1;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		snprintf(err, errlen, "%s is %s by group or others (mode "
		    "%04o); chmod 600 it", path, st.st_mode & (S_IRGRP |
		    S_IROTH) ? "readable" : st.st_mode & (S_IWGRP | S_IWOTH) ?
		    "writable" : "executable", (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}
