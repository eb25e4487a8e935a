/* The module loads with every symbol resolved (RTLD_NOW, as libpam does)
 * and exports the PAM entry points and nothing else. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void *module;

static int load(void **state)
{
	char path[4096];
	const char *build = getenv("BUILD");

	(void)state;
	snprintf(path, sizeof(path), "%s/pam_totp_profile.so", build ? build : "build");
	module = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (module == NULL)
		fprintf(stderr, "dlopen: %s\n", dlerror());
	return module == NULL ? -1 : 0;
}

static int unload(void **state)
{
	(void)state;
	return module != NULL ? dlclose(module) : 0;
}

static void exports_pam_entry_points(void **state)
{
	(void)state;
	assert_non_null(dlsym(module, "pam_sm_authenticate"));
	assert_non_null(dlsym(module, "pam_sm_setcred"));
}

static void hides_the_library(void **state)
{
	static const char *const internal[] = {
		"tp_config_load", "tp_store_open", "tp_store_update", "tp_totp_verify",
		"tp_login_attempt", "tp_profile_from_fd", "parse_module_options",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(internal) / sizeof(internal[0]); i++) {
		dlerror();
		if (dlsym(module, internal[i]) != NULL)
			fail_msg("%s is exported", internal[i]);
	}
}

static void exports_nothing_else(void **state)
{
	char cmd[4200], line[512];
	const char *build = getenv("BUILD");
	FILE *p;
	int n = 0;

	(void)state;
	snprintf(cmd, sizeof(cmd),
		 "nm -D --defined-only '%s/pam_totp_profile.so' | awk '{print $3}'",
		 build ? build : "build");
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0')
			continue;
		/* ASan builds add their own interceptors; ignore those */
		if (strncmp(line, "__asan", 6) == 0 || strncmp(line, "__ubsan", 7) == 0)
			continue;
		if (strncmp(line, "pam_sm_", 7) != 0)
			fail_msg("unexpected exported symbol: %s", line);
		n++;
	}
	assert_int_equal(pclose(p), 0);
	assert_int_equal(n, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exports_pam_entry_points),
		cmocka_unit_test(hides_the_library),
		cmocka_unit_test(exports_nothing_else),
	};
	return cmocka_run_group_tests_name("module_dlopen", tests, load, unload);
}
