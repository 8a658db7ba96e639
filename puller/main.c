/*-------------------------------------------------------------------------
 *
 * puller/main.c
 *		pgpull: command line entry point.
 *
 * The sync subcommands arrive with the puller; until then the program
 * answers --help and --version, so packaging and tests can rely on it.
 *
 * Copyright (c) 2026, the pgpull developers
 *
 *-------------------------------------------------------------------------
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2

static void usage(void);

/*
 * usage: print the help text to stdout.
 */
static void
usage(void)
{
	printf("pgpull replicates PostgreSQL tables and views to an HTTP destination.\n\n");
	printf("Usage:\n");
	printf("  pgpull [OPTION]...\n\n");
	printf("Options:\n");
	printf("  -V, --version    output version information, then exit\n");
	printf("  -?, --help       show this help, then exit\n\n");
	printf("Report bugs to the pgpull issue tracker.\n");
}

int
main(int argc, char **argv)
{
	static struct option long_options[] = {
		{"help", no_argument, NULL, '?'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}
	};
	int			c;

	while ((c = getopt_long(argc, argv, "V?", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'V':
				printf("pgpull %s\n", PGPULL_VERSION);
				return 0;
			case '?':
				if (optopt == 0 && strcmp(argv[optind - 1], "-?") != 0 &&
					strcmp(argv[optind - 1], "--help") != 0)
					break;
				if (optopt != 0 && optopt != '?')
				{
					fprintf(stderr, "Try \"pgpull --help\" for more information.\n");
					return EXIT_USAGE;
				}
				usage();
				return 0;
			default:
				fprintf(stderr, "Try \"pgpull --help\" for more information.\n");
				return EXIT_USAGE;
		}
	}
	fprintf(stderr, "pgpull: error: no command given\n");
	fprintf(stderr, "Try \"pgpull --help\" for more information.\n");
	return EXIT_USAGE;
}
