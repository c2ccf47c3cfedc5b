#!/usr/bin/python3
"""samba-fixtures.py loads chpass's test fixtures into a freshly provisioned Samba
AD domain, offline (before samba starts), through the samba Python bindings.

    samba-fixtures.py SMB_CONF SERVICE_PASSWORD USER_PASSWORD BATCH_USERS

- test-friendly domain password settings: no minimum age, no complexity, minimum
  length 8, history 4 (the current password and 3 before it), lockout after 5
  wrong passwords for 30 minutes;
- OU=People (the users chpass manages) and OU=Service;
- CN=chpass-svc,OU=Service: a plain Domain User (not an administrator) with
  three ACEs on OU=People, inherited by user objects only: the "Reset Password"
  extended right, and write on pwdLastSet and lockoutTime;
- groups in OU=Groups, each the subject of a fine-grained password policy (PSO):
  chpass-complex (complexity on), chpass-min-age (minimum age 1 day),
  chpass-expiring (passwords expire 2 days after they are set; Samba ignores a
  maximum age under a day);
  chpass-list, a group for ListUsers, and chpass-list-outer holding it (nested);
- BATCH_USERS users batch001... in OU=People, members of chpass-list, with
  USER_PASSWORD, for the 100-user batch and the benchmark;
- expired01..expired10 in OU=People and chpass-expiring, with USER_PASSWORD set
  3 days ago: their passwords have expired (bind answers data 532). pwdLastSet
  accepts only 0 and -1 over LDAP and through the samba modules, so it is
  backdated in the partition's own ldb file, without modules.
Test users beyond those are added by the tests themselves, as Administrator.
"""
import sys
import time

import ldb
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB
from samba.sd_utils import SDUtils
from samba.dcerpc import security

USER_CLASS = "bf967aba-0de6-11d0-a285-00aa003049e2"      # schemaIDGUID of user
RESET_PASSWORD = "00299570-246d-11d0-a768-00aa006e0529"  # User-Force-Change-Password
PWD_LAST_SET = "bf967a0a-0de6-11d0-a285-00aa003049e2"    # attributeSchema pwdLastSet
LOCKOUT_TIME = "28630ebf-41d5-11d1-a9c1-0000f80367c1"    # attributeSchema lockoutTime

MINUTE = 60 * 10**7  # in the 100 ns units of AD's intervals
DAY = 24 * 60 * MINUTE
EXPIRED = 10


def quoted_utf16(pw):
    return ('"%s"' % pw).encode("utf-16-le")


def main():
    conf, svc_pw, user_pw, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    lp = LoadParm()
    lp.load(conf)
    s = SamDB(url=lp.private_path("sam.ldb"), session_info=system_session(), lp=lp)
    base = str(s.domain_dn())

    s.transaction_start()
    try:
        m = ldb.Message(ldb.Dn(s, base))
        for attr, val in {
            "pwdProperties": "0", "minPwdLength": "8", "pwdHistoryLength": "4",
            "minPwdAge": "0", "maxPwdAge": str(-0x8000000000000000),
            "lockoutThreshold": "5", "lockoutDuration": str(-30 * MINUTE),
            "lockOutObservationWindow": str(-30 * MINUTE),
        }.items():
            m[attr] = ldb.MessageElement(val, ldb.FLAG_MOD_REPLACE, attr)
        s.modify(m)

        for ou in ("People", "Service", "Groups"):
            s.add({"dn": "OU=%s,%s" % (ou, base), "objectClass": "organizationalUnit"})

        svc_dn = "CN=chpass-svc,OU=Service," + base
        s.add({"dn": svc_dn, "objectClass": "user", "sAMAccountName": "chpass-svc",
               "unicodePwd": quoted_utf16(svc_pw), "userAccountControl": "66048"})  # normal, never expires
        sid = s.search(svc_dn, scope=ldb.SCOPE_BASE, attrs=["objectSid"])[0]["objectSid"][0]
        sid = str(s.schema_format_value("objectSid", sid), "utf-8")
        sd = SDUtils(s)
        people = "OU=People," + base
        for ace in ("(OA;CIIO;CR;%s;%s;%s)" % (RESET_PASSWORD, USER_CLASS, sid),
                    "(OA;CIIO;WP;%s;%s;%s)" % (PWD_LAST_SET, USER_CLASS, sid),
                    "(OA;CIIO;WP;%s;%s;%s)" % (LOCKOUT_TIME, USER_CLASS, sid)):
            sd.dacl_add_ace(people, ace)

        groups = "OU=Groups," + base
        for g in ("chpass-complex", "chpass-min-age", "chpass-expiring", "chpass-list", "chpass-list-outer"):
            s.add({"dn": "CN=%s,%s" % (g, groups), "objectClass": "group", "sAMAccountName": g})
        m = ldb.Message(ldb.Dn(s, "CN=chpass-list-outer," + groups))
        m["member"] = ldb.MessageElement("CN=chpass-list," + groups, ldb.FLAG_MOD_ADD, "member")
        s.modify(m)

        psos = "CN=Password Settings Container,CN=System," + base
        for name, prec, complexity, min_age, max_age in (
                ("complex", 10, "TRUE", 0, -0x8000000000000000),
                ("min-age", 11, "FALSE", -DAY, -0x8000000000000000),
                ("expiring", 12, "FALSE", 0, -2 * DAY)):
            s.add({"dn": "CN=chpass-%s,%s" % (name, psos), "objectClass": "msDS-PasswordSettings",
                   "msDS-PasswordSettingsPrecedence": str(prec),
                   "msDS-PasswordReversibleEncryptionEnabled": "FALSE",
                   "msDS-PasswordHistoryLength": "4", "msDS-PasswordComplexityEnabled": complexity,
                   "msDS-MinimumPasswordLength": "8", "msDS-MinimumPasswordAge": str(min_age),
                   "msDS-MaximumPasswordAge": str(max_age), "msDS-LockoutThreshold": "5",
                   "msDS-LockoutObservationWindow": str(-30 * MINUTE), "msDS-LockoutDuration": str(-30 * MINUTE),
                   "msDS-PSOAppliesTo": "CN=chpass-%s,%s" % (name, groups)})

        members = []
        for i in range(1, batch + 1):
            name = "batch%03d" % i
            dn = "CN=%s,%s" % (name, people)
            s.add({"dn": dn, "objectClass": "user", "sAMAccountName": name,
                   "userPrincipalName": name + "@example.test",
                   "unicodePwd": quoted_utf16(user_pw), "userAccountControl": "512"})
            members.append(dn)
        expired = []
        for i in range(1, EXPIRED + 1):
            dn = "CN=expired%02d,%s" % (i, people)
            s.add({"dn": dn, "objectClass": "user", "sAMAccountName": "expired%02d" % i,
                   "userPrincipalName": "expired%02d@example.test" % i,
                   "unicodePwd": quoted_utf16(user_pw), "userAccountControl": "512"})
            expired.append(dn)
        m = ldb.Message(ldb.Dn(s, "CN=chpass-expiring," + groups))
        m["member"] = ldb.MessageElement(expired, ldb.FLAG_MOD_ADD, "member")
        s.modify(m)
        if members:
            m = ldb.Message(ldb.Dn(s, "CN=chpass-list," + groups))
            m["member"] = ldb.MessageElement(members, ldb.FLAG_MOD_ADD, "member")
            s.modify(m)
    except Exception:
        s.transaction_cancel()
        raise
    s.transaction_commit()
    partition = lp.private_path("sam.ldb.d/%s.ldb" % base.upper())
    del s
    raw = ldb.Ldb(partition, options=["modules:"])
    then = str((int(time.time()) + 11644473600 - 3 * 86400) * 10**7)  # 3 days ago, as a FILETIME
    for dn in expired:
        m = ldb.Message(ldb.Dn(raw, dn))
        m["pwdLastSet"] = ldb.MessageElement(then, ldb.FLAG_MOD_REPLACE, "pwdLastSet")
        raw.modify(m)
    print("samba-fixtures.py: %s: service account %s, %d batch users" % (base, svc_dn, batch))


if __name__ == "__main__":
    main()
