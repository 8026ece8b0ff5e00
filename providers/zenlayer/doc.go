// Package zenlayer is the provider adapter for Zenlayer Cloud API 2.0: bare
// metal (type zenlayer_bmc, POST /api/v2/bmc) and virtual machines (type
// zenlayer_vm, POST /api/v2/vm). It changes bandwidth_out on both
// (ModifyInstanceBandwidth) and instance_type on VMs (ModifyInstanceType),
// and reads them through DescribeInstances and the change-status calls
// DescribeInstanceInternetStatus and DescribeInstanceTypeStatus.
//
// Requests are JSON, signed with ZC2-HMAC-SHA256 (see Authorization). The
// API has no client token: Apply is made idempotent by reading first and by
// remembering tokens in memory; docs/providers.md states the
// limits.
//
// A change goes through these states as Current reports them:
//
//	value V ──Apply(W)──► Pending{W, Processing} ──(Zenlayer done)──► value W
//	        └─prepaid downgrade──► Pending{W, NextCycle} ──(cycle ends)──► value W
//
// Postpaid changes, and bandwidth inside the free allowance, usually skip
// the pending state.
package zenlayer
