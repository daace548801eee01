/*
 * libFuzzer target: text as relogd reads it from its settings file. The
 * input goes through config_load_file, the path config_load takes, on
 * top of the defaults; then every plugin's settings are made as relogd
 * makes them, and everything is freed. config_load_finish is left out: it
 * reads the files the settings name (token_file), which are the
 * machine's, not the input's.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "relogd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static volatile unsigned fuzz_sink;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct plugin_settings s;
	struct plugin_config *pc;
	struct config c;
	char *cause = NULL;
	FILE *f;

	if (size == 0 || (f = fmemopen((void *)data, size, "r")) == NULL)
		return (0);
	config_defaults(&c);
	if (config_load_file(&c, f, "fuzz", &cause) != 0)
		fuzz_sink += cause != NULL ? (unsigned)cause[0] : 0;
	fclose(f);
	free(cause);
	config_plugin(&c, "unnamed", &s);
	fuzz_sink += (unsigned)s.outputs;
	for (pc = c.plugins; pc != NULL; pc = pc->next) {
		config_plugin(&c, pc->name, &s);
		fuzz_sink += (unsigned)s.outputs + (unsigned)s.file[0];
	}
	config_free(&c);
	return (0);
}
