/* rng.h: the deterministic random numbers of training: xoshiro256** seeded through splitmix64. */
#ifndef CNNF_RNG_H
#define CNNF_RNG_H

#include <stdint.h>

/*
 * A generator state. The same seed gives the same sequence on every machine
 * (the integers and uniforms exactly; normals up to the libm's log, sqrt and
 * cos). Never rand(): training must not depend on anything but --seed.
 */
typedef struct cnnf_rng {
	uint64_t s[4]; /* xoshiro256** state, never all zero */
} cnnf_rng;

/* Start the stream of seed. */
void cnnf_rng_seed(cnnf_rng *r, uint64_t seed);

/*
 * Start a stream keyed by (seed, a, b, c): distinct keys give unrelated
 * streams, so that work done in parallel draws the same numbers whichever
 * thread does it (e.g. a = step, b = layer, c = sample).
 */
void cnnf_rng_derive(cnnf_rng *r, uint64_t seed, uint64_t a, uint64_t b, uint64_t c);

/* The next 64 random bits. */
uint64_t cnnf_rng_next(cnnf_rng *r);

/* Uniform on [0, 1), 53 bits. */
double cnnf_rng_uniform(cnnf_rng *r);

/* Uniform on 0..n-1 without bias (n >= 1). */
uint64_t cnnf_rng_below(cnnf_rng *r, uint64_t n);

/* Standard normal (Box-Muller; one value per call). */
double cnnf_rng_normal(cnnf_rng *r);

#endif
