/*
 * test_keyhash: SipHash-2-4 against the reference implementation's 64
 * vectors (key 00..0f, message 00..len-1 for len 0..63, the 64-bit result
 * read little-endian: vectors.h / the paper's appendix); the same hashes
 * fed in parts of every split; and the process key: stable within the
 * process, not the all-zero key, and parts kept apart by their NULs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "estrad/keyhash.h"

static const uint64_t vectors_sip64[64] = {
	0x726fdb47dd0e0e31ULL, 0x74f839c593dc67fdULL, 0x0d6c8009d9a94f5aULL,
	0x85676696d7fb7e2dULL, 0xcf2794e0277187b7ULL, 0x18765564cd99a68dULL,
	0xcbc9466e58fee3ceULL, 0xab0200f58b01d137ULL, 0x93f5f5799a932462ULL,
	0x9e0082df0ba9e4b0ULL, 0x7a5dbbc594ddb9f3ULL, 0xf4b32f46226bada7ULL,
	0x751e8fbc860ee5fbULL, 0x14ea5627c0843d90ULL, 0xf723ca908e7af2eeULL,
	0xa129ca6149be45e5ULL, 0x3f2acc7f57c29bdbULL, 0x699ae9f52cbe4794ULL,
	0x4bc1b3f0968dd39cULL, 0xbb6dc91da77961bdULL, 0xbed65cf21aa2ee98ULL,
	0xd0f2cbb02e3b67c7ULL, 0x93536795e3a33e88ULL, 0xa80c038ccd5ccec8ULL,
	0xb8ad50c6f649af94ULL, 0xbce192de8a85b8eaULL, 0x17d835b85bbb15f3ULL,
	0x2f2e6163076bcfadULL, 0xde4daaaca71dc9a5ULL, 0xa6a2506687956571ULL,
	0xad87a3535c49ef28ULL, 0x32d892fad841c342ULL, 0x7127512f72f27cceULL,
	0xa7f32346f95978e3ULL, 0x12e0b01abb051238ULL, 0x15e034d40fa197aeULL,
	0x314dffbe0815a3b4ULL, 0x027990f029623981ULL, 0xcadcd4e59ef40c4dULL,
	0x9abfd8766a33735cULL, 0x0e3ea96b5304a7d0ULL, 0xad0c42d6fc585992ULL,
	0x187306c89bc215a9ULL, 0xd4a60abcf3792b95ULL, 0xf935451de4f21df2ULL,
	0xa9538f0419755787ULL, 0xdb9acddff56ca510ULL, 0xd06c98cd5c0975ebULL,
	0xe612a3cb9ecba951ULL, 0xc766e62cfcadaf96ULL, 0xee64435a9752fe72ULL,
	0xa192d576b245165aULL, 0x0a8787bf8ecb74b2ULL, 0x81b3e73d20b49b6fULL,
	0x7fa8220ba3b2eceaULL, 0x245731c13ca42499ULL, 0xb78dbfaf3a8d83bdULL,
	0xea1ad565322a1a0bULL, 0x60e61c23a3795013ULL, 0x6606d7e446282b93ULL,
	0x6ca4ecb15c5f91e1ULL, 0x9f626da15c9625f3ULL, 0xe51b38608ef25f57ULL,
	0x958a324ceb064572ULL,
};

static unsigned char	key[16], msg[64];

static int
setup(void **state)
{
	(void)state;
	for (int i = 0; i < 16; i++)
		key[i] = (unsigned char)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (unsigned char)i;
	return 0;
}

static void
test_vectors(void **state)
{
	(void)state;
	for (size_t len = 0; len < 64; len++) {
		print_message("length %zu\n", len);
		assert_int_equal(keyhash_sip24(key, msg, len),
		    vectors_sip64[len]);
	}
}

/* The streaming form, fed in two and three parts at every split point,
 * gives the one-shot answer: the tail word carries across parts. */
static void
test_parts(void **state)
{
	(void)state;
	for (size_t len = 0; len < 64; len++)
		for (size_t a = 0; a <= len; a++)
			for (size_t b = a; b <= len; b++) {
				struct keyhash_ctx	c;
				uint64_t		one, parts;

				one = keyhash(msg, len);
				keyhash_start(&c);
				keyhash_add(&c, msg, a);
				keyhash_add(&c, msg + a, b - a);
				keyhash_add(&c, msg + b, len - b);
				parts = keyhash_end(&c);
				assert_int_equal(parts, one);
			}
}

static void
test_process_key(void **state)
{
	static const unsigned char	zero[16];
	struct keyhash_ctx		c;
	uint64_t			ab_c, a_bc;

	(void)state;
	assert_int_equal(keyhash("alice", 5), keyhash("alice", 5));
	assert_int_not_equal(keyhash("alice", 5), keyhash("alicf", 5));
	/* A random key, not zeros (1 chance in 2^64 of a false failure). */
	assert_int_not_equal(keyhash(msg, 16), keyhash_sip24(zero, msg, 16));
	assert_int_not_equal(keyhash(msg, 16), keyhash_sip24(key, msg, 16));
	/* Parts ended by their NUL stay apart. */
	keyhash_start(&c);
	keyhash_add(&c, "ab", 3);
	keyhash_add(&c, "c", 2);
	ab_c = keyhash_end(&c);
	keyhash_start(&c);
	keyhash_add(&c, "a", 2);
	keyhash_add(&c, "bc", 3);
	a_bc = keyhash_end(&c);
	assert_int_not_equal(ab_c, a_bc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_parts),
		cmocka_unit_test(test_process_key),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
