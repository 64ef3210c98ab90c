/*
 * fuzz.h: what every harness shares. The entry points libFuzzer (or
 * replay.c) calls, an invariant check that is never compiled out (the
 * build defines NDEBUG), and NUL-terminated copies of the input.
 */
#ifndef ESTRAD_FUZZ_H
#define ESTRAD_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant: report it and abort, which libFuzzer records as a crash. */
#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/* data[0..size) as a malloc'd C string (it ends at the first NUL). */
static inline char *
fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* 1 if s (NUL-terminated within size bytes) is one line: no CR or LF. */
static inline int
fuzz_one_line(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	return n < size && strpbrk(s, "\r\n") == NULL;
}

/*
 * Split the input at the next '\n': returns the line's length and moves
 * the input past it (and its '\n'). -1 when nothing is left.
 */
static inline long
fuzz_next_line(const uint8_t **data, size_t *size, const uint8_t **line)
{
	const uint8_t *nl;
	size_t len;

	if (*data == NULL)
		return -1;
	*line = *data;
	if ((nl = memchr(*data, '\n', *size)) == NULL) {
		len = *size;
		*data = NULL;
		*size = 0;
	} else {
		len = (size_t)(nl - *data);
		*data = nl + 1;
		*size -= len + 1;
	}
	return (long)len;
}

#endif
