/*
 * replay: a plain main() for the libFuzzer harnesses, so they build with
 * any compiler and run their corpora as ordinary tests. Every argument is
 * a file, or a directory whose regular files (not recursively, in name
 * order) are each fed once to LLVMFuzzerTestOneInput, as libFuzzer would.
 * A harness that defines LLVMFuzzerInitialize gets it called first. Exits
 * 0 after the last input; a harness's assertion, or a sanitizer report on
 * a sanitizer build, ends the run with the input's name on stderr.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* One input, in a buffer of exactly its size (overreads are caught). */
static int
replay_file(const char *path)
{
	FILE		*fp;
	uint8_t		*buf = NULL;
	size_t		 cap = 0, len = 0, n;

	if ((fp = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		uint8_t *nb;

		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			if ((nb = realloc(buf, cap)) == NULL) {
				fprintf(stderr, "replay: out of memory\n");
				fclose(fp);
				free(buf);
				return -1;
			}
			buf = nb;
		}
		if ((n = fread(buf + len, 1, cap - len, fp)) == 0)
			break;
		len += n;
	}
	if (ferror(fp)) {
		fprintf(stderr, "replay: %s: read error\n", path);
		fclose(fp);
		free(buf);
		return -1;
	}
	fclose(fp);
	{
		/* Copied to an exact-size allocation: ASan sees overreads. */
		uint8_t *exact = malloc(len ? len : 1);

		if (exact == NULL) {
			free(buf);
			return -1;
		}
		if (len > 0)
			memcpy(exact, buf, len);
		free(buf);
		fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	return 0;
}

static int
replay_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
replay_dir(const char *dir, size_t *count)
{
	DIR		*d;
	struct dirent	*de;
	char		**names = NULL;
	size_t		 n = 0, cap = 0;
	int		 rc = 0;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		char		 path[4096];
		struct stat	 st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) == -1 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			char **nn;

			cap = cap ? cap * 2 : 64;
			if ((nn = realloc(names, cap * sizeof(*names))) == NULL) {
				rc = -1;
				break;
			}
			names = nn;
		}
		if ((names[n] = strdup(path)) == NULL) {
			rc = -1;
			break;
		}
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), replay_name_cmp);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && replay_file(names[i]) == -1)
			rc = -1;
		free(names[i]);
	}
	free(names);
	*count += n;
	return rc;
}

int
main(int argc, char **argv)
{
	size_t	 count = 0;
	int	 rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) == -1) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			rc = 1;
		} else if (S_ISDIR(st.st_mode)) {
			if (replay_dir(argv[i], &count) == -1)
				rc = 1;
		} else if (replay_file(argv[i]) == -1)
			rc = 1;
		else
			count++;
	}
	fprintf(stderr, "replay: %zu input(s) %s\n", count,
	    rc == 0 ? "ran" : "ran, with errors");
	if (rc == 0 && count == 0) {
		fprintf(stderr, "replay: no inputs\n");
		rc = 1;
	}
	return rc;
}
