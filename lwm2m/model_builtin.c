/*
 * lwm2m/model_builtin.c -- built-in object definitions (static const data)
 *
 * Produced by a one-off script from the OMA LwM2M registry files in
 * shared/lwm2m-registry (OMNA registry, commit in SOURCE-COMMIT there),
 * one file per object:
 *   0.xml, 1.xml, 2.xml, 3.xml, 4.xml, 5.xml, 6.xml, 7.xml
 *   9.xml, 10.xml, 11.xml, 21.xml, 3303.xml, 3304.xml, 3311.xml, 3313.xml
 *   3347.xml
 * newest version of each object (the registry holds one file per object),
 * then reviewed by hand.  Carries ids, names, versions, URNs, types,
 * operations, multiplicity, mandatory flags, units and range text of every
 * resource; descriptions are left empty to keep the table small (load the
 * registry directory with lwm2m_model_load_dir() to get them).  Regenerate
 * rather than edit when a registry object changes.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/model_int.h"

#define R LWM2M_OP_READ
#define W LWM2M_OP_WRITE
#define RW (LWM2M_OP_READ | LWM2M_OP_WRITE)
#define E LWM2M_OP_EXECUTE
#define M true   /* multiple / mandatory */
#define S false  /* single / optional */

/* 0 LWM2M Security 1.2 */
static const struct lwm2m_resource_def obj_0_1_2_res[] = {
    /* id, name, type, operations, multiple, mandatory, units, range, description */
    { 0, "LWM2M  Server URI", LWM2M_TYPE_STRING, 0, S, M, "", "0..255", "" },
    { 1, "Bootstrap-Server", LWM2M_TYPE_BOOLEAN, 0, S, M, "", "", "" },
    { 2, "Security Mode", LWM2M_TYPE_INTEGER, 0, S, M, "", "0..4", "" },
    { 3, "Public Key or Identity", LWM2M_TYPE_OPAQUE, 0, S, M, "", "", "" },
    { 4, "Server Public Key", LWM2M_TYPE_OPAQUE, 0, S, M, "", "", "" },
    { 5, "Secret Key", LWM2M_TYPE_OPAQUE, 0, S, M, "", "", "" },
    { 6, "SMS Security Mode", LWM2M_TYPE_INTEGER, 0, S, S, "", "0..255", "" },
    { 7, "SMS Binding Key Parameters", LWM2M_TYPE_OPAQUE, 0, S, S, "", "6", "" },
    { 8, "SMS Binding Secret Key(s)", LWM2M_TYPE_OPAQUE, 0, S, S, "", "16,32,48", "" },
    { 9, "LwM2M Server SMS Number", LWM2M_TYPE_STRING, 0, S, S, "", "", "" },
    { 10, "Short Server ID", LWM2M_TYPE_INTEGER, 0, S, S, "", "1..65534", "" },
    { 11, "Client Hold Off Time", LWM2M_TYPE_INTEGER, 0, S, S, "s", "", "" },
    { 12, "Bootstrap-Server Account Timeout", LWM2M_TYPE_INTEGER, 0, S, S, "s", "", "" },
    { 13, "Matching Type", LWM2M_TYPE_UNSIGNED, 0, S, S, "", "0..3", "" },
    { 14, "SNI", LWM2M_TYPE_STRING, 0, S, S, "", "", "" },
    { 15, "Certificate Usage", LWM2M_TYPE_UNSIGNED, 0, S, S, "", "0..3", "" },
    { 16, "DTLS/TLS Ciphersuite", LWM2M_TYPE_UNSIGNED, 0, M, S, "", "", "" },
    { 17, "OSCORE Security Mode", LWM2M_TYPE_OBJLNK, 0, S, S, "", "", "" },
    { 18, "Groups To Use by Client", LWM2M_TYPE_UNSIGNED, 0, M, S, "", "0..65535", "" },
    { 19, "Signature Algorithms Supported by Server", LWM2M_TYPE_UNSIGNED, 0, M, S, "", "0..65535", "" },
    { 20, "Signature Algorithms To Use by Client", LWM2M_TYPE_UNSIGNED, 0, M, S, "", "0..65535", "" },
    { 21, "Signature Algorithm Certs Supported by Server", LWM2M_TYPE_UNSIGNED, 0, M, S, "", "0..65535", "" },
    { 22, "TLS 1.3 Features To Use by Client", LWM2M_TYPE_UNSIGNED, 0, S, S, "", "0..65535", "" },
    { 23, "TLS Extensions Supported by Server", LWM2M_TYPE_UNSIGNED, 0, S, S, "", "0..65535", "" },
    { 24, "TLS Extensions To Use by Client", LWM2M_TYPE_UNSIGNED, 0, S, S, "", "0..65535", "" },
    { 25, "Secondary LwM2M Server URI", LWM2M_TYPE_STRING, 0, M, S, "", "0..255", "" },
    { 26, "MQTT Server", LWM2M_TYPE_OBJLNK, 0, S, S, "", "", "" },
    { 27, "LwM2M COSE Security", LWM2M_TYPE_OBJLNK, 0, M, S, "", "", "" },
    { 28, "RDS Destination Port", LWM2M_TYPE_INTEGER, 0, S, S, "", "0..15", "" },
    { 29, "RDS Source Port", LWM2M_TYPE_INTEGER, 0, S, S, "", "0..15", "" },
    { 30, "RDS Application ID", LWM2M_TYPE_STRING, 0, S, S, "", "", "" },
};
static const struct lwm2m_object_def obj_0_1_2 = {
    .id = 0, .name = "LWM2M Security", .version = "1.2",
    .urn = "urn:oma:lwm2m:oma:0:1.2",
    .multiple = true, .mandatory = true, .description = "",
    .n_resources = sizeof obj_0_1_2_res / sizeof obj_0_1_2_res[0], .resources = obj_0_1_2_res,
};

/* 1 LwM2M Server 1.2 */
static const struct lwm2m_resource_def obj_1_1_2_res[] = {
    /* id, name, type, operations, multiple, mandatory, units, range, description */
    { 0, "Short Server ID", LWM2M_TYPE_INTEGER, R, S, M, "", "1..65534", "" },
    { 1, "Lifetime", LWM2M_TYPE_INTEGER, RW, S, M, "s", "", "" },
    { 2, "Default Minimum Period", LWM2M_TYPE_INTEGER, RW, S, S, "s", "", "" },
    { 3, "Default Maximum Period", LWM2M_TYPE_INTEGER, RW, S, S, "s", "", "" },
    { 4, "Disable", LWM2M_TYPE_NONE, E, S, S, "", "", "" },
    { 5, "Disable Timeout", LWM2M_TYPE_INTEGER, RW, S, S, "s", "", "" },
    { 6, "Notification Storing When Disabled or Offline", LWM2M_TYPE_BOOLEAN, RW, S, M, "", "", "" },
    { 7, "Binding", LWM2M_TYPE_STRING, RW, S, M, "", "", "" },
    { 8, "Registration Update Trigger", LWM2M_TYPE_NONE, E, S, M, "", "", "" },
    { 9, "Bootstrap-Request Trigger", LWM2M_TYPE_NONE, E, S, S, "", "", "" },
    { 10, "APN Link", LWM2M_TYPE_OBJLNK, RW, S, S, "", "", "" },
    { 11, "TLS-DTLS Alert Code", LWM2M_TYPE_UNSIGNED, R, S, S, "", "0..255", "" },
    { 12, "Last Bootstrapped", LWM2M_TYPE_TIME, R, S, S, "", "", "" },
    { 13, "Registration Priority Order", LWM2M_TYPE_UNSIGNED, R, S, S, "", "", "" },
    { 14, "Initial Registration Delay Timer", LWM2M_TYPE_UNSIGNED, RW, S, S, "s", "", "" },
    { 15, "Registration Failure Block", LWM2M_TYPE_BOOLEAN, R, S, S, "", "", "" },
    { 16, "Bootstrap on Registration Failure", LWM2M_TYPE_BOOLEAN, R, S, S, "", "", "" },
    { 17, "Communication Retry Count", LWM2M_TYPE_UNSIGNED, RW, S, S, "", "", "" },
    { 18, "Communication Retry Timer", LWM2M_TYPE_UNSIGNED, RW, S, S, "s", "", "" },
    { 19, "Communication Sequence Delay Timer", LWM2M_TYPE_UNSIGNED, RW, S, S, "s", "", "" },
    { 20, "Communication Sequence Retry Count", LWM2M_TYPE_UNSIGNED, RW, S, S, "", "", "" },
    { 21, "Trigger", LWM2M_TYPE_BOOLEAN, RW, S, S, "", "", "" },
    { 22, "Preferred Transport", LWM2M_TYPE_STRING, RW, S, S, "", "The possible values are those listed in the LwM2M Core Specification", "" },
    { 23, "Mute Send", LWM2M_TYPE_BOOLEAN, RW, S, S, "", "", "" },
    { 24, "Alternate APN Links", LWM2M_TYPE_OBJLNK, RW, M, S, "", "", "" },
    { 25, "Supported Server Versions", LWM2M_TYPE_STRING, RW, M, S, "", "", "" },
    { 26, "Default Notification Mode", LWM2M_TYPE_INTEGER, RW, S, S, "", "0..1", "" },
    { 27, "Profile ID Hash Algorithm", LWM2M_TYPE_UNSIGNED, RW, S, S, "", "0..255", "" },
};
static const struct lwm2m_object_def obj_1_1_2 = {
    .id = 1, .name = "LwM2M Server", .version = "1.2",
    .urn = "urn:oma:lwm2m:oma:1:1.2",
    .multiple = true, .mandatory = true, .description = "",
    .n_resources = sizeof obj_1_1_2_res / sizeof obj_1_1_2_res[0], .resources = obj_1_1_2_res,
};

/* 2 LwM2M Access Control 1.1 */
static const struct lwm2m_resource_def obj_2_1_1_res[] = {
    /* id, name, type, operations, multiple, mandatory, units, range, description */
    { 0, "Object ID", LWM2M_TYPE_INTEGER, R, S, M, "", "1..65534", "" },
    { 1, "Object Instance ID", LWM2M_TYPE_INTEGER, R, S, M, "", "0..65535", "" },
    { 2, "ACL", LWM2M_TYPE_INTEGER, RW, M, S, "", "0..31", "" },
    { 3, "Access Control Owner", LWM2M_TYPE_INTEGER, RW, S, M, "", "0..65535", "" },
};
static const struct lwm2m_object_def obj_2_1_1 = {
    .id = 2, .name = "LwM2M Access Control", .version = "1.1",
    .urn = "urn:oma:lwm2m:oma:2:1.1",
    .multiple = true, .mandatory = false, .description = "",
    .n_resources = sizeof obj_2_1_1_res / sizeof obj_2_1_1_res[0], .resources = obj_2_1_1_res,
};

/* 3 Device 1.2 */
static const struct lwm2m_resource_def obj_3_1_2_res[] = {
    /* id, name, type, operations, multiple, mandatory, units, range, description */
    { 0, "Manufacturer", LWM2M_TYPE_STRING, R, S, S, "", "", "" },
    { 1, "Model Number", LWM2M_TYPE_STRING, R, S, S, "", "", "" },
    { 2, "Serial Number", LWM2M_TYPE_STRING, R, S, S, "", "", "" },
    { 3, "Firmware Version", LWM2M_TYPE_STRING, R, S, S, "", "", "" },
    { 4, "Reboot", LWM2M_TYPE_NONE, E, S, M, "", "", "" },
    { 5, "Factory Reset", LWM2M_TYPE_NONE, E, S, S, "", "", "" },
    { 6, "Available Power Sources", LWM2M_TYPE_INTEGER, R, M, S, "", "0..7", "" },
    { 7, "Power Source Voltage", LWM2M_TYPE_INTEGER, R, M, S, "", "", "" },
    { 8, "Power Source Current", LWM2M_TYPE_INTEGER, R, M, S, "", "", "" },
    { 9, "Battery Level", LWM2M_TYPE_INTEGER, R, S, S, "/100", "0..100", "" },
    { 10, "Memory Free", LWM2M_TYPE_INTEGER, R, S, S, "", "", "" },
    { 11, "Error Code", LWM2M_TYPE_INTEGER, R, M, M, "", "0..32", "" },
    { 12, "Reset Error Code", LWM2M_TYPE_NONE, E, S, S, "", "", "" },
    { 13, "Current Time", LWM2M_TYPE_TIME, RW, S, S, "", "", "" },
    { 14, "UTC Offset", LWM2M_TYPE_STRING, RW, S, S, "", "", "" },
    { 15, "Timezone", LWM2M_TYPE_STRING, RW, S, S, "", "", "" },
    { 16, "Supported Binding and Modes", LWM2M_TYPE_STRING, R, S, M, "", "", "" },
    { 17, "Device Type", LWM2M_TYPE_STRING, R, S, S, "", "", "" },
    { 18, "Hardware Version", LWM2M_TYPE_STRING, R, S, S, "", "", "" },
    { 19, "Software Version", LWM2M_TYPE_STRING, R, S, S, "", "", "" },
    { 20, "Battery Status", LWM2M_TYPE_INTEGER, R, S, S, "", "0..6", "" },
    { 21, "Memory Total", LWM2M_TYPE_INTEGER, R, S, S, "", "", "" },
    { 22, "ExtDevInfo", LWM2M_TYPE_OBJLNK, R, M, S, "", "", "" },
};
static const struct lwm2m_object_def obj_3_1_2 = {
    .id = 3, .name = "Device", .version = "1.2",
    .urn = "urn:oma:lwm2m:oma:3:1.2",
    .multiple = false, .mandatory = true, .description = "",
    .n_resources = sizeof obj_3_1_2_res / sizeof obj_3_1_2_res[0], .resources = obj_3_1_2_res,
};

/* 4 Connectivity Monitoring 1.3 */
static const struct lwm2m_resource_def obj_4_1_3_res[] = {
    /* id, name, type, operations, multiple, mandatory, units, range, description */
    { 0, "Network Bearer", LWM2M_TYPE_INTEGER, R, S, M, "", "0..50", "" },
    { 1, "Available Network Bearer", LWM2M_TYPE_INTEGER, R, M, M, "", "0..50", "" },
    { 2, "Radio Signal Strength", LWM2M_TYPE_INTEGER, R, S, M, "dBm", "", "" },
    { 3, "Link Quality", LWM2M_TYPE_INTEGER, R, S, S, "", "", "" },
    { 4, "IP Addresses", LWM2M_TYPE_STRING, R, M, M, "", "", "" },
    { 5, "Router IP Addresses", LWM2M_TYPE_STRING, R, M, S, "", "", "" },
    { 6, "Link Utilization", LWM2M_TYPE_INTEGER, R, S, S, "/100", "0..100", "" },
    { 7, "APN", LWM2M_TYPE_STRING, R, M, S, "", "", "" },
    { 8, "Cell ID", LWM2M_TYPE_INTEGER, R, S, S, "", "", "" },
    { 9, "SMNC", LWM2M_TYPE_INTEGER, R, S, S, "", "0..999", "" },
    { 10, "SMCC", LWM2M_TYPE_INTEGER, R, S, S, "", "0..999", "" },
    { 11, "SignalSNR", LWM2M_TYPE_INTEGER, R, S, S, "dB", "", "" },
    { 12, "LAC", LWM2M_TYPE_INTEGER, R, S, S, "", "", "" },
    { 13, "Coverage Enhancement Level", LWM2M_TYPE_INTEGER, R, S, S, "", "0..4", "" },
};
static const struct lwm2m_object_def obj_4_1_3 = {
    .id = 4, .name = "Connectivity Monitoring", .version = "1.3",
    .urn = "urn:oma:lwm2m:oma:4:1.3",
    .multiple = false, .mandatory = false, .description = "",
    .n_resources = sizeof obj_4_1_3_res / sizeof obj_4_1_3_res[0], .resources = obj_4_1_3_res,
};

/* 5 Firmware Update 1.2 */
static const struct lwm2m_resource_def obj_5_1_2_res[] = {
    /* id, name, type, operations, multiple, mandatory, units, range, description */
    { 0, "Package", LWM2M_TYPE_OPAQUE, W, S, M, "", "", "" },
    { 1, "Package URI", LWM2M_TYPE_STRING, RW, S, M, "", "0..255", "" },
    { 2, "Update", LWM2M_TYPE_NONE, E, S, M, "", "", "" },
    { 3, "State", LWM2M_TYPE_INTEGER, R, S, M, "", "0..3", "" },
    { 5, "Update Result", LWM2M_TYPE_INTEGER, R, S, M, "", "0..11", "" },
    { 6, "PkgName", LWM2M_TYPE_STRING, R, S, S, "", "0..255", "" },
    { 7, "PkgVersion", LWM2M_TYPE_STRING, R, S, S, "", "0..255", "" },
    { 8, "Firmware Update Protocol Support", LWM2M_TYPE_INTEGER, R, M, S, "", "0..5", "" },
    { 9, "Firmware Update Delivery Method", LWM2M_TYPE_INTEGER, R, S, M, "", "0..2", "" },
    { 10, "Cancel", LWM2M_TYPE_NONE, E, S, S, "", "", "" },
    { 11, "Severity", LWM2M_TYPE_INTEGER, RW, S, S, "", "0..2", "" },
    { 12, "Last State Change Time", LWM2M_TYPE_TIME, R, S, S, "", "", "" },
    { 13, "Maximum Defer Period", LWM2M_TYPE_UNSIGNED, RW, S, S, "s", "", "" },
    { 14, "Automatic Upgrade at Download", LWM2M_TYPE_BOOLEAN, RW, S, S, "", "", "" },
};
static const struct lwm2m_object_def obj_5_1_2 = {
    .id = 5, .name = "Firmware Update", .version = "1.2",
    .urn = "urn:oma:lwm2m:oma:5:1.2",
    .multiple = false, .mandatory = false, .description = "",
    .n_resources = sizeof obj_5_1_2_res / sizeof obj_5_1_2_res[0], .resources = obj_5_1_2_res,
};

/* 6 Location 1.0 */
static const struct lwm2m_resource_def obj_6_1_0_res[] = {
    /* id, name, type, operations, multiple, mandatory, units, range, description */
    { 0, "Latitude", LWM2M_TYPE_FLOAT, R, S, M, "lat", "", "" },
    { 1, "Longitude", LWM2M_TYPE_FLOAT, R, S, M, "lon", "", "" },
    { 2, "Altitude", LWM2M_TYPE_FLOAT, R, S, S, "m", "", "" },
    { 3, "Radius", LWM2M_TYPE_FLOAT, R, S, S, "m", "", "" },
    { 4, "Velocity", LWM2M_TYPE_OPAQUE, R, S, S, "", "", "" },
    { 5, "Timestamp", LWM2M_TYPE_TIME, R, S, M, "", "", "" },
    { 6, "Speed", LWM2M_TYPE_FLOAT, R, S, S, "m/s", "", "" },
};
static const struct lwm2m_object_def obj_6_1_0 = {
    .id = 6, .name = "Location", .version = "1.0",
    .urn = "urn:oma:lwm2m:oma:6",
    .multiple = false, .mandatory = false, .description = "",
    .n_resources = sizeof obj_6_1_0_res / sizeof obj_6_1_0_res[0], .resources = obj_6_1_0_res,
};

/* 7 Connectivity Statistics 1.0 */
static const struct lwm2m_resource_def obj_7_1_0_res[] = {
    /* id, name, type, operations, multiple, mandatory, units, range, description */
    { 0, "SMS Tx Counter", LWM2M_TYPE_INTEGER, R, S, S, "", "", "" },
    { 1, "SMS Rx Counter", LWM2M_TYPE_INTEGER, R, S, S, "", "", "" },
    { 2, "Tx Data", LWM2M_TYPE_INTEGER, R, S, S, "", "", "" },
    { 3, "Rx Data", LWM2M_TYPE_INTEGER, R, S, S, "", "", "" },
    { 4, "Max Message Size", LWM2M_TYPE_INTEGER, R, S, S, "B", "", "" },
    { 5, "Average Message Size", LWM2M_TYPE_INTEGER, R, S, S, "B", "", "" },
    { 6, "Start", LWM2M_TYPE_NONE, E, S, M, "", "", "" },
    { 7, "Stop", LWM2M_TYPE_NONE, E, S, M, "", "", "" },
    { 8, "Collection Period", LWM2M_TYPE_INTEGER, RW, S, S, "s", "", "" },
};
static const struct lwm2m_object_def obj_7_1_0 = {
    .id = 7, .name = "Connectivity Statistics", .version = "1.0",
    .urn = "urn:oma:lwm2m:oma:7",
    .multiple = false, .mandatory = false, .description = "",
    .n_resources = sizeof obj_7_1_0_res / sizeof obj_7_1_0_res[0], .resources = obj_7_1_0_res,
};

/* 9 LWM2M Software Management 1.0 */
static const struct lwm2m_resource_def obj_9_1_0_res[] = {
    /* id, name, type, operations, multiple, mandatory, units, range, description */
    { 0, "PkgName", LWM2M_TYPE_STRING, R, S, M, "", "0..255 bytes", "" },
    { 1, "PkgVersion", LWM2M_TYPE_STRING, R, S, M, "", "0..255 bytes", "" },
    { 2, "Package", LWM2M_TYPE_OPAQUE, W, S, S, "", "", "" },
    { 3, "Package URI", LWM2M_TYPE_STRING, W, S, S, "", "0..255 bytes", "" },
    { 4, "Install", LWM2M_TYPE_NONE, E, S, M, "", "", "" },
    { 5, "Checkpoint", LWM2M_TYPE_OBJLNK, R, S, S, "", "", "" },
    { 6, "Uninstall", LWM2M_TYPE_NONE, E, S, M, "", "", "" },
    { 7, "Update State", LWM2M_TYPE_INTEGER, R, S, M, "", "0..4", "" },
    { 8, "Update Supported Objects", LWM2M_TYPE_BOOLEAN, RW, S, S, "", "", "" },
    { 9, "Update Result", LWM2M_TYPE_INTEGER, R, S, M, "", "0..200", "" },
    { 10, "Activate", LWM2M_TYPE_NONE, E, S, M, "", "", "" },
    { 11, "Deactivate", LWM2M_TYPE_NONE, E, S, M, "", "", "" },
    { 12, "Activation State", LWM2M_TYPE_BOOLEAN, R, S, M, "", "", "" },
    { 13, "Package Settings", LWM2M_TYPE_OBJLNK, RW, S, S, "", "", "" },
    { 14, "User Name", LWM2M_TYPE_STRING, W, S, S, "", "0..255 bytes", "" },
    { 15, "Password", LWM2M_TYPE_STRING, W, S, S, "", "0..255 bytes", "" },
    { 16, "Status Reason", LWM2M_TYPE_STRING, R, S, S, "", "", "" },
    { 17, "Software Component Link", LWM2M_TYPE_OBJLNK, R, M, S, "", "", "" },
    { 18, "Software Component tree length", LWM2M_TYPE_INTEGER, R, S, S, "", "0..255", "" },
};
static const struct lwm2m_object_def obj_9_1_0 = {
    .id = 9, .name = "LWM2M Software Management", .version = "1.0",
    .urn = "urn:oma:lwm2m:oma:9",
    .multiple = true, .mandatory = false, .description = "",
    .n_resources = sizeof obj_9_1_0_res / sizeof obj_9_1_0_res[0], .resources = obj_9_1_0_res,
};

/* 10 LWM2M Cellular Connectivity 1.1 */
static const struct lwm2m_resource_def obj_10_1_1_res[] = {
    /* id, name, type, operations, multiple, mandatory, units, range, description */
    { 0, "SMSC address", LWM2M_TYPE_STRING, RW, S, S, "", "", "" },
    { 1, "Disable radio period", LWM2M_TYPE_INTEGER, RW, S, S, "", "0..65535", "" },
    { 2, "Module activation code", LWM2M_TYPE_STRING, RW, S, S, "", "", "" },
    { 3, "Vendor specific extensions", LWM2M_TYPE_OBJLNK, R, S, S, "", "", "" },
    { 4, "PSM Timer", LWM2M_TYPE_INTEGER, RW, S, S, "s", "", "" },
    { 5, "Active Timer", LWM2M_TYPE_INTEGER, RW, S, S, "s", "", "" },
    { 7, "eDRX parameters for Iu mode", LWM2M_TYPE_OPAQUE, RW, S, S, "", "0..255", "" },
    { 8, "eDRX parameters for WB-S1 mode", LWM2M_TYPE_OPAQUE, RW, S, S, "", "0..255", "" },
    { 9, "eDRX parameters for NB-S1 mode", LWM2M_TYPE_OPAQUE, RW, S, S, "", "0..255", "" },
    { 10, "eDRX parameters for A/Gb mode", LWM2M_TYPE_OPAQUE, RW, S, S, "", "0..255", "" },
    { 11, "Activated Profile Names", LWM2M_TYPE_OBJLNK, R, M, M, "", "", "" },
    { 12, "Supported Power Saving Modes", LWM2M_TYPE_UNSIGNED, R, S, S, "", "0..255", "" },
    { 13, "Active Power Saving Modes", LWM2M_TYPE_UNSIGNED, RW, S, S, "", "0..255", "" },
    { 14, "Release Assistance Indication Usage", LWM2M_TYPE_UNSIGNED, RW, S, S, "", "0..255", "" },
};
static const struct lwm2m_object_def obj_10_1_1 = {
    .id = 10, .name = "LWM2M Cellular Connectivity", .version = "1.1",
    .urn = "urn:oma:lwm2m:oma:10:1.1",
    .multiple = false, .mandatory = false, .description = "",
    .n_resources = sizeof obj_10_1_1_res / sizeof obj_10_1_1_res[0], .resources = obj_10_1_1_res,
};

/* 11 LWM2M APN Connection Profile 1.1 */
static const struct lwm2m_resource_def obj_11_1_1_res[] = {
    /* id, name, type, operations, multiple, mandatory, units, range, description */
    { 0, "Profile name", LWM2M_TYPE_STRING, RW, S, M, "", "", "" },
    { 1, "APN", LWM2M_TYPE_STRING, RW, S, S, "", "", "" },
    { 2, "Auto select APN by device", LWM2M_TYPE_BOOLEAN, RW, S, S, "", "", "" },
    { 3, "Enable status", LWM2M_TYPE_BOOLEAN, RW, S, S, "", "", "" },
    { 4, "Authentication Type", LWM2M_TYPE_INTEGER, RW, S, M, "", "", "" },
    { 5, "User Name", LWM2M_TYPE_STRING, RW, S, S, "", "", "" },
    { 6, "Secret", LWM2M_TYPE_STRING, RW, S, S, "", "", "" },
    { 7, "Reconnect Schedule", LWM2M_TYPE_STRING, RW, S, S, "", "", "" },
    { 8, "Validity (MCC, MNC)", LWM2M_TYPE_STRING, RW, M, S, "", "", "" },
    { 9, "Connection establishment time (1)", LWM2M_TYPE_TIME, R, M, S, "", "", "" },
    { 10, "Connection establishment result (1)", LWM2M_TYPE_INTEGER, R, M, S, "", "", "" },
    { 11, "Connection establishment reject cause (1)", LWM2M_TYPE_INTEGER, R, M, S, "", "0..111", "" },
    { 12, "Connection end time (1)", LWM2M_TYPE_TIME, R, M, S, "", "", "" },
    { 13, "TotalBytesSent", LWM2M_TYPE_INTEGER, R, S, S, "", "", "" },
    { 14, "TotalBytesReceived", LWM2M_TYPE_INTEGER, R, S, S, "", "", "" },
    { 15, "IP address (2)", LWM2M_TYPE_STRING, RW, M, S, "", "", "" },
    { 16, "Prefix length(2)", LWM2M_TYPE_STRING, RW, M, S, "", "", "" },
    { 17, "Subnet mask (2)", LWM2M_TYPE_STRING, RW, M, S, "", "", "" },
    { 18, "Gateway (2)", LWM2M_TYPE_STRING, RW, M, S, "", "", "" },
    { 19, "Primary DNS address (2)", LWM2M_TYPE_STRING, RW, M, S, "", "", "" },
    { 20, "Secondary DNS address (2)", LWM2M_TYPE_STRING, RW, M, S, "", "", "" },
    { 21, "QCI (3)", LWM2M_TYPE_INTEGER, R, S, S, "", "1..9", "" },
    { 22, "Vendor specific extensions", LWM2M_TYPE_OBJLNK, R, S, S, "", "", "" },
    { 23, "TotalPacketsSent", LWM2M_TYPE_INTEGER, R, S, S, "", "", "" },
    { 24, "PDN Type", LWM2M_TYPE_INTEGER, RW, S, S, "", "", "" },
    { 25, "APN Rate Control", LWM2M_TYPE_INTEGER, R, S, S, "", "", "" },
    { 26, "Serving PLMN Rate control", LWM2M_TYPE_UNSIGNED, RW, S, S, "", "", "" },
    { 27, "Uplink Time Unit", LWM2M_TYPE_UNSIGNED, RW, S, S, "", "0..4", "" },
    { 28, "APN Rate Control for Exception Data", LWM2M_TYPE_INTEGER, R, S, S, "", "", "" },
    { 29, "APN Exception Data Uplink Time Unit", LWM2M_TYPE_UNSIGNED, RW, S, S, "", "0..4", "" },
    { 30, "Supported RAT Types", LWM2M_TYPE_UNSIGNED, RW, M, S, "", "", "" },
    { 31, "RDS Application ID", LWM2M_TYPE_STRING, RW, M, S, "", "", "" },
    { 32, "RDS Destination Port", LWM2M_TYPE_INTEGER, RW, M, S, "", "0..15", "" },
    { 33, "RDS Source Port", LWM2M_TYPE_INTEGER, RW, M, S, "", "0..15", "" },
};
static const struct lwm2m_object_def obj_11_1_1 = {
    .id = 11, .name = "LWM2M APN Connection Profile", .version = "1.1",
    .urn = "urn:oma:lwm2m:oma:11:1.1",
    .multiple = true, .mandatory = false, .description = "",
    .n_resources = sizeof obj_11_1_1_res / sizeof obj_11_1_1_res[0], .resources = obj_11_1_1_res,
};

/* 21 LWM2M OSCORE 2.0 */
static const struct lwm2m_resource_def obj_21_2_0_res[] = {
    /* id, name, type, operations, multiple, mandatory, units, range, description */
    { 0, "OSCORE Master Secret", LWM2M_TYPE_OPAQUE, 0, S, M, "", "", "" },
    { 1, "OSCORE Sender ID", LWM2M_TYPE_OPAQUE, 0, S, M, "", "", "" },
    { 2, "OSCORE Recipient ID", LWM2M_TYPE_OPAQUE, 0, S, M, "", "", "" },
    { 3, "OSCORE AEAD Algorithm", LWM2M_TYPE_INTEGER, 0, S, S, "", "", "" },
    { 4, "OSCORE HMAC Algorithm", LWM2M_TYPE_INTEGER, 0, S, S, "", "", "" },
    { 5, "OSCORE Master Salt", LWM2M_TYPE_OPAQUE, 0, S, S, "", "", "" },
    { 6, "OSCORE ID Context", LWM2M_TYPE_OPAQUE, 0, S, S, "", "", "" },
};
static const struct lwm2m_object_def obj_21_2_0 = {
    .id = 21, .name = "LWM2M OSCORE", .version = "2.0",
    .urn = "urn:oma:lwm2m:oma:21:2.0",
    .multiple = true, .mandatory = false, .description = "",
    .n_resources = sizeof obj_21_2_0_res / sizeof obj_21_2_0_res[0], .resources = obj_21_2_0_res,
};

/* 3303 Temperature 1.1 */
static const struct lwm2m_resource_def obj_3303_1_1_res[] = {
    /* id, name, type, operations, multiple, mandatory, units, range, description */
    { 5518, "Timestamp", LWM2M_TYPE_TIME, R, S, S, "", "", "" },
    { 5601, "Min Measured Value", LWM2M_TYPE_FLOAT, R, S, S, "", "", "" },
    { 5602, "Max Measured Value", LWM2M_TYPE_FLOAT, R, S, S, "", "", "" },
    { 5603, "Min Range Value", LWM2M_TYPE_FLOAT, R, S, S, "", "", "" },
    { 5604, "Max Range Value", LWM2M_TYPE_FLOAT, R, S, S, "", "", "" },
    { 5605, "Reset Min and Max Measured Values", LWM2M_TYPE_NONE, E, S, S, "", "", "" },
    { 5700, "Sensor Value", LWM2M_TYPE_FLOAT, R, S, M, "", "", "" },
    { 5701, "Sensor Units", LWM2M_TYPE_STRING, R, S, S, "", "", "" },
    { 5750, "Application Type", LWM2M_TYPE_STRING, RW, S, S, "", "", "" },
    { 6042, "Measurement Quality Indicator", LWM2M_TYPE_INTEGER, R, S, S, "", "0..23", "" },
    { 6049, "Measurement Quality Level", LWM2M_TYPE_INTEGER, R, S, S, "", "0..100", "" },
    { 6050, "Fractional Timestamp", LWM2M_TYPE_FLOAT, R, S, S, "s", "0..1", "" },
};
static const struct lwm2m_object_def obj_3303_1_1 = {
    .id = 3303, .name = "Temperature", .version = "1.1",
    .urn = "urn:oma:lwm2m:ext:3303:1.1",
    .multiple = true, .mandatory = false, .description = "",
    .n_resources = sizeof obj_3303_1_1_res / sizeof obj_3303_1_1_res[0], .resources = obj_3303_1_1_res,
};

/* 3304 Humidity 1.1: the same IPSO sensor resources as 3303 (obj_3303_1_1_res) */
static const struct lwm2m_object_def obj_3304_1_1 = {
    .id = 3304, .name = "Humidity", .version = "1.1",
    .urn = "urn:oma:lwm2m:ext:3304:1.1",
    .multiple = true, .mandatory = false, .description = "",
    .n_resources = sizeof obj_3303_1_1_res / sizeof obj_3303_1_1_res[0], .resources = obj_3303_1_1_res,
};

/* 3311 Light Control 1.0 */
static const struct lwm2m_resource_def obj_3311_1_0_res[] = {
    /* id, name, type, operations, multiple, mandatory, units, range, description */
    { 5701, "Sensor Units", LWM2M_TYPE_STRING, R, S, S, "", "", "" },
    { 5706, "Colour", LWM2M_TYPE_STRING, RW, S, S, "", "", "" },
    { 5750, "Application Type", LWM2M_TYPE_STRING, RW, S, S, "", "", "" },
    { 5805, "Cumulative active power", LWM2M_TYPE_FLOAT, R, S, S, "Wh", "", "" },
    { 5820, "Power factor", LWM2M_TYPE_FLOAT, R, S, S, "", "", "" },
    { 5850, "On/Off", LWM2M_TYPE_BOOLEAN, RW, S, M, "", "", "" },
    { 5851, "Dimmer", LWM2M_TYPE_INTEGER, RW, S, S, "/100", "0..100", "" },
    { 5852, "On time", LWM2M_TYPE_INTEGER, RW, S, S, "s", "", "" },
};
static const struct lwm2m_object_def obj_3311_1_0 = {
    .id = 3311, .name = "Light Control", .version = "1.0",
    .urn = "urn:oma:lwm2m:ext:3311",
    .multiple = true, .mandatory = false, .description = "",
    .n_resources = sizeof obj_3311_1_0_res / sizeof obj_3311_1_0_res[0], .resources = obj_3311_1_0_res,
};

/* 3313 Accelerometer 1.1 */
static const struct lwm2m_resource_def obj_3313_1_1_res[] = {
    /* id, name, type, operations, multiple, mandatory, units, range, description */
    { 5518, "Timestamp", LWM2M_TYPE_TIME, R, S, S, "", "", "" },
    { 5603, "Min Range Value", LWM2M_TYPE_FLOAT, R, S, S, "", "", "" },
    { 5604, "Max Range Value", LWM2M_TYPE_FLOAT, R, S, S, "", "", "" },
    { 5701, "Sensor Units", LWM2M_TYPE_STRING, R, S, S, "", "", "" },
    { 5702, "X Value", LWM2M_TYPE_FLOAT, R, S, M, "", "", "" },
    { 5703, "Y Value", LWM2M_TYPE_FLOAT, R, S, S, "", "", "" },
    { 5704, "Z Value", LWM2M_TYPE_FLOAT, R, S, S, "", "", "" },
    { 5750, "Application Type", LWM2M_TYPE_STRING, RW, S, S, "", "", "" },
    { 6042, "Measurement Quality Indicator", LWM2M_TYPE_INTEGER, R, S, S, "", "0..23", "" },
    { 6049, "Measurement Quality Level", LWM2M_TYPE_INTEGER, R, S, S, "", "0..100", "" },
    { 6050, "Fractional Timestamp", LWM2M_TYPE_FLOAT, R, S, S, "s", "0..1", "" },
};
static const struct lwm2m_object_def obj_3313_1_1 = {
    .id = 3313, .name = "Accelerometer", .version = "1.1",
    .urn = "urn:oma:lwm2m:ext:3313:1.1",
    .multiple = true, .mandatory = false, .description = "",
    .n_resources = sizeof obj_3313_1_1_res / sizeof obj_3313_1_1_res[0], .resources = obj_3313_1_1_res,
};

/* 3347 Push button 1.1 */
static const struct lwm2m_resource_def obj_3347_1_1_res[] = {
    /* id, name, type, operations, multiple, mandatory, units, range, description */
    { 5500, "Digital Input State", LWM2M_TYPE_BOOLEAN, R, S, M, "", "", "" },
    { 5501, "Digital Input Counter", LWM2M_TYPE_INTEGER, R, S, S, "", "", "" },
    { 5518, "Timestamp", LWM2M_TYPE_TIME, R, S, S, "", "", "" },
    { 5750, "Application Type", LWM2M_TYPE_STRING, RW, S, S, "", "", "" },
    { 6050, "Fractional Timestamp", LWM2M_TYPE_FLOAT, R, S, S, "s", "0..1", "" },
};
static const struct lwm2m_object_def obj_3347_1_1 = {
    .id = 3347, .name = "Push button", .version = "1.1",
    .urn = "urn:oma:lwm2m:ext:3347:1.1",
    .multiple = true, .mandatory = false, .description = "",
    .n_resources = sizeof obj_3347_1_1_res / sizeof obj_3347_1_1_res[0], .resources = obj_3347_1_1_res,
};

const struct lwm2m_object_def *const model_builtin_objects[] = {
    &obj_0_1_2,
    &obj_1_1_2,
    &obj_2_1_1,
    &obj_3_1_2,
    &obj_4_1_3,
    &obj_5_1_2,
    &obj_6_1_0,
    &obj_7_1_0,
    &obj_9_1_0,
    &obj_10_1_1,
    &obj_11_1_1,
    &obj_21_2_0,
    &obj_3303_1_1,
    &obj_3304_1_1,
    &obj_3311_1_0,
    &obj_3313_1_1,
    &obj_3347_1_1,
};
const size_t model_builtin_count = sizeof model_builtin_objects / sizeof model_builtin_objects[0];
