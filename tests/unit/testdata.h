/*
 * testdata: the unit tests' test vectors, from $ESTRAD_TEST_DATA
 * (tests/data, set by ctest; tests/data when unset). Each function fails
 * the running cmocka test when the file cannot be read.
 */
#ifndef ESTRAD_TESTDATA_H
#define ESTRAD_TESTDATA_H

#include <stddef.h>

/* The whole file, NUL-terminated; malloc'd, its length in *len. */
char *testdata_read(const char *name, size_t *len);

/* The file's base64 (RFC 8951 leniency: whitespace, armour) decoded;
 * malloc'd, its length in *len. */
unsigned char *testdata_b64(const char *name, size_t *len);

#endif
