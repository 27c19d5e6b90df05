/* A flooding VM: send one Ethernet frame (given in hex) on an interface, as fast as
 * AF_PACKET and sendmmsg(2) allow, for a bounded time; print how many were sent.
 * Compiled by benchmarks/flood.py with gcc at run time (not part of the package).
 *
 *   flood_sender IFACE HEXFRAME SECONDS     (SECONDS is capped at 20)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 64

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s IFACE HEXFRAME SECONDS\n", argv[0]);
        return 2;
    }
    size_t hexlen = strlen(argv[2]);
    if (hexlen % 2 || hexlen / 2 > 1514 || hexlen < 28) {
        fprintf(stderr, "frame: an even number of hex digits, 14 to 1514 bytes\n");
        return 2;
    }
    unsigned char frame[1514];
    size_t len = hexlen / 2;
    for (size_t i = 0; i < len; i++) {
        unsigned int byte;
        if (sscanf(argv[2] + 2 * i, "%2x", &byte) != 1) {
            fprintf(stderr, "frame: not hex at %zu\n", 2 * i);
            return 2;
        }
        frame[i] = (unsigned char)byte;
    }
    double seconds = atof(argv[3]);
    if (seconds <= 0 || seconds > 20)
        seconds = 20;

    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    if (fd < 0) {
        perror("socket");
        return 1;
    }
    struct sockaddr_ll addr = {0};
    addr.sll_family = AF_PACKET;
    addr.sll_ifindex = (int)if_nametoindex(argv[1]);
    if (addr.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror(argv[1]);
        return 1;
    }
    struct iovec iov = {frame, len};
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
        msgs[i].msg_hdr.msg_iov = &iov;
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    unsigned long long sent = 0;
    double start = now(), end = start + seconds;
    while (now() < end) {
        int n = sendmmsg(fd, msgs, BATCH, 0);
        if (n > 0)
            sent += (unsigned long long)n;
    }
    printf("%llu %.3f\n", sent, now() - start);
    return 0;
}
