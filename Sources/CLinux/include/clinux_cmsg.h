#ifndef SWIFT_LXCFS_CLINUX_CMSG_H
#define SWIFT_LXCFS_CLINUX_CMSG_H

/* The CMSG_* macros of <sys/socket.h> as functions, which Swift can call
   (macros with arguments do not import). Each one is the macro, nothing
   more; the loops over a message's control data are Swift's
   (LXCFSSystem's DescriptorPassing). */

#include <stddef.h>
#include <sys/socket.h>

struct cmsghdr *clinux_cmsg_firsthdr(struct msghdr *msg);
struct cmsghdr *clinux_cmsg_nxthdr(struct msghdr *msg, struct cmsghdr *cmsg);
unsigned char *clinux_cmsg_data(struct cmsghdr *cmsg);
size_t clinux_cmsg_space(size_t payload);
size_t clinux_cmsg_len(size_t payload);

/* SCM_RIGHTS and SCM_CREDENTIALS (the latter needs _GNU_SOURCE). */
extern const int clinux_scm_rights;
extern const int clinux_scm_credentials;

#endif
