/*
 * privdrop.c: see privdrop.h. The steps follow the order that cannot be
 * undone halfway: groups first (needs root), then gid, then uid.
 */
#include "core/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/fsuid.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

int privdrop_lookup(const char *user, uid_t *uid_r, gid_t *gid_r, struct error *err)
{
	struct passwd *pw = getpwnam(user);
	if (pw == NULL)
		return error_set(err, ERR_NOTFOUND, "user \"%s\" does not exist", user);
	*uid_r = pw->pw_uid;
	*gid_r = pw->pw_gid;
	return 0;
}

void privdrop_fs_as(uid_t uid, gid_t gid)
{
	if (!privdrop_is_root())
		return;
	setfsgid(gid);
	setfsuid(uid);
}

bool privdrop_is_root(void)
{
	return geteuid() == 0;
}

static int verify_dropped(uid_t uid, gid_t gid, struct error *err)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;
	if (getresuid(&ruid, &euid, &suid) != 0 || getresgid(&rgid, &egid, &sgid) != 0)
		return error_errno(err, errno, "checking ids after dropping privileges");
	if (ruid != uid || euid != uid || suid != uid || rgid != gid || egid != gid || sgid != gid)
		return error_set(err, ERR_IO, "ids not fully changed after dropping privileges");
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		return error_set(err, ERR_IO, "could regain root after dropping privileges");
	return 0;
}

int privdrop_to_user(const char *user, const char *const *own, size_t n, struct error *err)
{
	if (!privdrop_is_root())
		return 0;
	errno = 0;
	struct passwd *pw = getpwnam(user);
	if (pw == NULL)
		return error_set(err, ERR_NOTFOUND,
		                 "user \"%s\" does not exist (create it, e.g. useradd --system %s, "
		                 "or set User in tern.conf)", user, user);
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	for (size_t i = 0; i < n; i++)
		if (chown(own[i], uid, gid) != 0)
			return error_errno(err, errno, "chown %s to %s", own[i], user);
	if (uid == 0)
		return 0;  /* User: root was asked for explicitly; nothing to drop */
	if (setgroups(1, &gid) != 0)
		return error_errno(err, errno, "setgroups");
	if (setresgid(gid, gid, gid) != 0)
		return error_errno(err, errno, "setresgid %u", (unsigned)gid);
	if (setresuid(uid, uid, uid) != 0)
		return error_errno(err, errno, "setresuid %u", (unsigned)uid);
	return verify_dropped(uid, gid, err);
}
