/* rng.c: xoshiro256** (Blackman and Vigna) seeded by splitmix64, and the draws training needs. */
#include "base/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

void cnnf_rng_seed(cnnf_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
	/* splitmix64 is a bijection of its counter: four outputs are never all zero. */
}

void cnnf_rng_derive(cnnf_rng *r, uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
	/* Each key goes through a full splitmix64 round before the next one is mixed in. */
	uint64_t x = seed;
	uint64_t h = splitmix64(&x);
	x = h ^ a;
	h = splitmix64(&x);
	x = h ^ b;
	h = splitmix64(&x);
	x = h ^ c;
	cnnf_rng_seed(r, splitmix64(&x));
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t cnnf_rng_next(cnnf_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

double cnnf_rng_uniform(cnnf_rng *r)
{
	return (double)(cnnf_rng_next(r) >> 11) * 0x1p-53;
}

uint64_t cnnf_rng_below(cnnf_rng *r, uint64_t n)
{
	/* Reject the top partial copy of 0..n-1 so that every value is equally likely. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t v;
	do
		v = cnnf_rng_next(r);
	while (v >= limit);
	return v % n;
}

double cnnf_rng_normal(cnnf_rng *r)
{
	/* 1 - u is in (0, 1]: the log is finite. */
	double u = 1.0 - cnnf_rng_uniform(r), v = cnnf_rng_uniform(r);
	return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}
