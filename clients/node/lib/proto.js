"use strict";
// The message types, loaded from tix.proto at run time (protobufjs): the
// package's copy (scripts/copy-proto.js) or the repository's proto/.
const fs = require("fs");
const path = require("path");
const protobuf = require("protobufjs");

const candidates = [path.join(__dirname, "..", "tix.proto"), path.join(__dirname, "..", "..", "..", "proto", "tix.proto")];
const file = candidates.find((p) => fs.existsSync(p));
if (!file) throw new Error(`tix-client: tix.proto not found (looked at ${candidates.join(", ")})`);
const root = protobuf.loadSync(file);
const t = (name) => root.lookupType(`tix.v1.${name}`);

module.exports = {
  CallHeader: t("CallHeader"), ReplyHeader: t("ReplyHeader"),
  PurchaseRequest: t("PurchaseRequest"), PurchaseReply: t("PurchaseReply"),
  GetSaleRequest: t("GetSaleRequest"), Sale: t("Sale"),
  GetOrderRequest: t("GetOrderRequest"), Order: t("Order"),
  CreateSaleRequest: t("CreateSaleRequest"),
  HealthCheckRequest: t("HealthCheckRequest"), HealthCheckResponse: t("HealthCheckResponse"),
  CloseSaleRequest: t("CloseSaleRequest"),
  ListSalesRequest: t("ListSalesRequest"), ListSalesReply: t("ListSalesReply"),
  CancelOrderRequest: t("CancelOrderRequest"),
  ListOrdersRequest: t("ListOrdersRequest"), ListOrdersReply: t("ListOrdersReply"),
};
