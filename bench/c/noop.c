/*
 * noop.fcgi -- variant (a): the ceiling for any FastCGI handler.
 *
 * A libfcgi responder that answers 204 No Content to every request and
 * does nothing else (libfcgi itself discards the request body in
 * FCGX_Finish_r).  Started without a FastCGI socket on fd 0 it answers one
 * plain-CGI request the same way, which bench/c/cgiloop.c uses as the
 * floor of a CGI request (fork, exec, dynamic linking, exit).
 */
#include <signal.h>
#include <stdio.h>

#include <fcgiapp.h>

#define ANSWER "Status: 204 No Content\r\n\r\n"

int
main(void)
{
	FCGX_Request req;

	if (FCGX_IsCGI()) {
		fputs(ANSWER, stdout);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&req) >= 0) {
		FCGX_PutS(ANSWER, req.out);
		FCGX_Finish_r(&req);
	}
	return 0;
}
