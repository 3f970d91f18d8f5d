/*
 * naive.c -- the receiver people write first: append the record with
 * O_APPEND, no lock, no repair, no dedup, in two write() calls.  The crash
 * test is run against it first to show that the test catches torn and
 * glued lines; it is not part of gpush.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(void)
{
	const char *dir = getenv("GPUSH_DIR"), *id = getenv("HTTP_X_GOOG_CHANNEL_ID"),
	    *num = getenv("HTTP_X_GOOG_MESSAGE_NUMBER");
	char path[4096], line[512];
	int fd, len, half;

	if (dir == NULL || id == NULL || num == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/notifications.ndjson", dir);
	len = snprintf(line, sizeof(line), "{\"channel_id\":\"%s\",\"message_number\":%s,"
	    "\"pad\":\"%0200d\"}\n", id, num, 0);
	half = len / 2;
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600)) < 0)
		return 1;
	if (write(fd, line, (size_t)half) != half)
		return 1;
	usleep(300);
	if (write(fd, line + half, (size_t)(len - half)) != len - half)
		return 1;
	fputs("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nok\n", stdout);
	return 0;
}
