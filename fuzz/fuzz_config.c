/*
 * fuzz_config.c: libFuzzer target for src/config: every input is parsed both
 * as tern.conf and as domains.conf from memory (config_parse_*_mem), through
 * libyaml, the limits pre-scan and the schema walk. Dictionary: config.dict;
 * seeds: corpus/config/.
 *
 * Relative paths in the input resolve against the working directory, and
 * TLS and trust anchor paths are stat(2)ed; nothing is opened or written.
 */
#include "config/config.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg;
	struct error err;
	if (config_parse_static_mem("tern.conf", (const char *)data, size, &cfg, &err) == 0)
		config_release(&cfg);
	if (config_parse_dynamic_mem("domains.conf", (const char *)data, size, &cfg, &err) == 0)
		config_release(&cfg);
	return 0;
}
