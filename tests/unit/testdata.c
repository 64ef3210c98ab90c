/*
 * testdata: reading the unit tests' vectors (testdata.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "estrad/b64.h"
#include "testdata.h"

char *
testdata_read(const char *name, size_t *len)
{
	const char	*dir = getenv("ESTRAD_TEST_DATA");
	char		 path[1024], *buf;
	FILE		*fp;
	long		 n;

	snprintf(path, sizeof(path), "%s/%s", dir != NULL ? dir : "tests/data",
	    name);
	if ((fp = fopen(path, "rb")) == NULL)
		fail_msg("cannot open %s (set ESTRAD_TEST_DATA)", path);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	assert_true((n = ftell(fp)) > 0);
	rewind(fp);
	assert_non_null(buf = malloc((size_t)n + 1));
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

unsigned char *
testdata_b64(const char *name, size_t *len)
{
	size_t		 b64len;
	char		*b64 = testdata_read(name, &b64len);
	unsigned char	*der = NULL;
	const char	*reason = NULL;

	if (b64_decode_lenient(b64, b64len, &der, len, &reason) != 0)
		fail_msg("%s: %s", name, reason);
	free(b64);
	return der;
}
