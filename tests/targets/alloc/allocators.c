// SPDX-License-Identifier: MIT
/* A known allocation pattern through another allocator's own entry points: built once per
 * allocator (-DUSE_JEMALLOC, -DUSE_MIMALLOC, -DUSE_TCMALLOC) against Debian's library, which
 * also replaces malloc and operator new/delete. tests/e2e/test_allocators.py holds what each
 * function allocates. The prototypes are declared here: the libraries' -dev packages are not
 * needed. */
#include <stddef.h>
#include <stdio.h>

/* operator new/delete by their mangled names (callable from C). */
void *_Znwm(size_t n);
void *_ZnamSt11align_val_t(size_t n, size_t align);
void _ZdlPvm(void *p, size_t n);
void _ZdaPvSt11align_val_t(void *p, size_t align);

#define N_NEW 100
#define N_NEW_KEPT 40

static void *kept[1000];
static int nkept;

static void keep(void *p)
{
	kept[nkept++] = p;
}

/* 100 x new(48), 60 deleted with sized delete; 10 x new[](256, align 64), 4 deleted. */
void cxx_new(void)
{
	void *p[N_NEW];

	for (int i = 0; i < N_NEW; i++)
		p[i] = _Znwm(48);
	for (int i = 0; i < N_NEW; i++) {
		if (i < N_NEW - N_NEW_KEPT)
			_ZdlPvm(p[i], 48);
		else
			keep(p[i]);
	}
	for (int i = 0; i < 10; i++) {
		void *q = _ZnamSt11align_val_t(256, 64);

		if (i < 4)
			_ZdaPvSt11align_val_t(q, 64);
		else
			keep(q);
	}
}

#ifdef USE_JEMALLOC
void *mallocx(size_t size, int flags);
void *rallocx(void *ptr, size_t size, int flags);
void sdallocx(void *ptr, size_t size, int flags);
void dallocx(void *ptr, int flags);

/* 100 x mallocx(100), 70 freed by sdallocx, 10 by dallocx. */
void je_api(void)
{
	for (int i = 0; i < 100; i++) {
		void *p = mallocx(100, 0);

		if (i < 70)
			sdallocx(p, 100, 0);
		else if (i < 80)
			dallocx(p, 0);
		else
			keep(p);
	}
}

/* 50 x mallocx(40) grown by rallocx to 4000; 30 of those freed by dallocx. */
void je_grow(void)
{
	for (int i = 0; i < 50; i++) {
		void *p = rallocx(mallocx(40, 0), 4000, 0);

		if (i < 30)
			dallocx(p, 0);
		else
			keep(p);
	}
}
#endif

#ifdef USE_MIMALLOC
void *mi_zalloc(size_t size);
void *mi_mallocn(size_t count, size_t size);
void *mi_reallocn(void *p, size_t count, size_t size);
void mi_free(void *p);
void mi_free_size(void *p, size_t size);

/* 100 x mi_zalloc(200), 90 freed; 20 x mi_mallocn(4, 25) = 100 B, all kept. */
void mi_api(void)
{
	for (int i = 0; i < 100; i++) {
		void *p = mi_zalloc(200);

		if (i < 90)
			mi_free_size(p, 200);
		else
			keep(p);
	}
	for (int i = 0; i < 20; i++)
		keep(mi_mallocn(4, 25));
}

/* 30 x mi_mallocn(2, 8) grown by mi_reallocn to 10 x 100 B; 10 of those freed. */
void mi_grow(void)
{
	for (int i = 0; i < 30; i++) {
		void *p = mi_reallocn(mi_mallocn(2, 8), 10, 100);

		if (i < 10)
			mi_free(p);
		else
			keep(p);
	}
}
#endif

#ifdef USE_TCMALLOC
void *tc_malloc_skip_new_handler(size_t size);
void tc_free_sized(void *p, size_t size);

/* 50 x tc_malloc_skip_new_handler(300), 25 freed by tc_free_sized. */
void tc_api(void)
{
	for (int i = 0; i < 50; i++) {
		void *p = tc_malloc_skip_new_handler(300);

		if (i < 25)
			tc_free_sized(p, 300);
		else
			keep(p);
	}
}
#endif

int main(int argc, char **argv)
{
	char line[16];

	/* --wait: let allocscope attach by pid first (its allocator is mapped by then). */
	if (argc > 1) {
		printf("ready\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	cxx_new();
#ifdef USE_JEMALLOC
	je_api();
	je_grow();
#endif
#ifdef USE_MIMALLOC
	mi_api();
	mi_grow();
#endif
#ifdef USE_TCMALLOC
	tc_api();
#endif
	printf("kept %d\n", nkept);
	return 0;
}
