#define _GNU_SOURCE
#include "clinux_cmsg.h"

struct cmsghdr *clinux_cmsg_firsthdr(struct msghdr *msg) { return CMSG_FIRSTHDR(msg); }
struct cmsghdr *clinux_cmsg_nxthdr(struct msghdr *msg, struct cmsghdr *cmsg) { return CMSG_NXTHDR(msg, cmsg); }
unsigned char *clinux_cmsg_data(struct cmsghdr *cmsg) { return CMSG_DATA(cmsg); }
size_t clinux_cmsg_space(size_t payload) { return CMSG_SPACE(payload); }
size_t clinux_cmsg_len(size_t payload) { return CMSG_LEN(payload); }

const int clinux_scm_rights = SCM_RIGHTS;
const int clinux_scm_credentials = SCM_CREDENTIALS;
