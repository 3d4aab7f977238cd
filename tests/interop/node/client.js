#!/usr/bin/env node
// The interop flow (tests/interop/README.md) with the npm `soap` package (node-soap), driven only
// by the WSDL a node serves.
//
//   node client.js --wsdl URL --sender ORG --receiver ORG --letter-id TEXT --subject TEXT
//                  --date yyyy-MM-dd --pdf FILE --accept-id TEXT [--soap12]
//
// node-soap has no generator step: it reads the WSDL and its XSDs at run time, exactly as served,
// and writes every request from that schema (the letter is a plain object; node-soap finds the
// namespaces of its elements in the XSDs). Prints one JSON line (see the README); on an
// unexpected error prints it on stderr and exits 1.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const { parseArgs } = require('node:util');

const UNKNOWN = '9999999999';
const NOTIFIERS = ['ReceiveLetterNotifier', 'AcceptLetterNotifier', 'RejectLetterNotifier', 'InvalidLetterNotifier',
  'InvalidAcceptIDNotifier'];

// BEGIN connect.md
const soap = require('soap');

// A node-soap client of the node's WSDL; `soap12` picks the WSDL's SOAP 1.2 port and envelope.
async function agencyService(wsdlUrl, soap12 = false) {
  const client = await soap.createClientAsync(wsdlUrl, { forceSoap12Headers: soap12 });
  const port = soap12 ? 'ECMSAgencySoap12' : 'ECMSAgencySoap11';
  // Call one operation at an organisation's own endpoint (its ECMS-URL); setEndpoint rebuilds
  // client.ECMSAgencyService, so the port is looked up after it.
  const call = (endpoint, operation, args = {}) => new Promise((resolve, reject) => {
    client.setEndpoint(endpoint);
    client.ECMSAgencyService[port][operation](args, (err, result) => (err ? reject(err) : resolve(result)));
  });
  return { client, call };
}

// A rsm:GovernmentDocument, unsigned (the node signs it for the sender), as a plain object.
function letter(letterId, date, subject, sender, receiver, pdf) {
  const party = (given, org) => ({
    GivenName: given, MinistryOrganization: { ID: org.slice(0, 2) }, DepartmentOrganization: { ID: org },
  });
  return {
    CorrespondenceLetter: {
      ID: letterId, CorrespondenceDate: date, Subject: subject, SecretCode: '001', SpeedCode: '001',
      SenderParty: party('สมชาย', sender), ReceiverParty: party('สมหญิง', receiver),
      MainLetterBinaryObject: { attributes: { mimeCode: 'pdf' }, $value: pdf.toString('base64') },
    },
  };
}

// Send a letter: { sent } with its ProcessID, or { fault, detail } with the node's ErrorDetail
// (ErrorCode, ErrorDescription) from the SOAP fault node-soap rejected the call with.
async function send(call, endpoint, document) {
  try {
    return { sent: await call(endpoint, 'CorrespondenceLetterOutbound', { GovernmentDocument: document }) };
  } catch (err) {
    const fault = err.root && err.root.Envelope.Body.Fault;
    if (!fault) throw err;
    return { fault, detail: (fault.detail || fault.Detail).ErrorDetail };
  }
}

// const { call } = await agencyService('http://HOST:PORT/ecms-ws01/service2/2000100000?wsdl');
// const { sent, detail } = await send(call, 'http://HOST:PORT/ecms-ws01/service2/2000100000',
//   letter('ศธ 0210/ว 1', '2026-11-26', 'เรื่อง', '2000100000', '2000350000', fs.readFileSync('letter.pdf')));
// console.log(sent ? sent.ProcessID : `refused: ${detail.ErrorCode} ${detail.ErrorDescription}`);
// END connect.md

function options() {
  const names = ['wsdl', 'sender', 'receiver', 'letter-id', 'subject', 'date', 'pdf', 'accept-id'];
  const { values } = parseArgs({
    options: { ...Object.fromEntries(names.map((n) => [n, { type: 'string' }])), soap12: { type: 'boolean' } },
    strict: true,
  });
  const missing = names.filter((n) => values[n] === undefined);
  if (missing.length) throw new Error(`missing ${missing.map((n) => `--${n}`).join(' ')}`);
  return values;
}

const list = (value) => (value === undefined || value === null ? [] : [].concat(value));

// A SOAP 1.1 faultcode, or a SOAP 1.2 Code/Value (with its Subcode/Value).
function faultCode(fault) {
  if (fault.faultcode) return String(fault.faultcode);
  const code = fault.Code || {};
  return [code.Value, code.Subcode && code.Subcode.Value].filter(Boolean).join(' / ');
}

async function main() {
  const args = options();
  const pdf = fs.readFileSync(args.pdf);
  const { client, call } = await agencyService(args.wsdl, Boolean(args.soap12));
  const portName = args.soap12 ? 'ECMSAgencySoap12' : 'ECMSAgencySoap11';

  const directory = await call(args.wsdl.split('?')[0], 'GetOrganizationList');
  const urls = Object.fromEntries(list(directory.OrganizationInfo).map((o) => [o.OrganizationID, o['ECMS-URL']]));
  const sender = urls[args.sender];
  const receiver = urls[args.receiver];
  if (!sender || !receiver) throw new Error(`GetOrganizationList does not list ${args.sender} and ${args.receiver}`);
  const out = {
    stack: 'npm-soap', stackVersion: require('soap/package.json').version, soapVersion: args.soap12 ? '1.2' : '1.1',
    organizations: Object.keys(urls).sort(), endpoints: { sender, receiver },
    // What node-soap read from the served WSDL (beyond the README's keys): the port and its operations.
    wsdl: { url: args.wsdl, port: portName, operations: Object.keys(client.describe().ECMSAgencyService[portName]) },
  };
  const codes = (answer) => Object.fromEntries(list(answer.Code).map((c) => [c.Value, c.Description]));
  out.secretCodes = codes(await call(sender, 'GetSecretCodes'));
  out.speedCodes = codes(await call(sender, 'GetSpeedCodes'));
  out.mimeCodes = list((await call(sender, 'GetMimeCodes')).Code).map((c) => c['File-Extension']);
  out.ministries = list((await call(sender, 'GetMinistryOrganizationList')).MinistryOrganizationList).length;
  const time = await call(sender, 'TimeCheck');
  out.time = typeof time === 'object' ? String(time.$value ?? time.ECMSTime) : String(time);

  const document = (to) => letter(args['letter-id'], args.date, args.subject, args.sender, to, pdf);
  const sent = await send(call, sender, document(args.receiver));
  if (!sent.sent) throw new Error(`the letter was refused: ${JSON.stringify(sent.detail)}`);
  out.sent = { ProcessID: sent.sent.ProcessID, ProcessTime: sent.sent.ProcessTime };
  const refused = await send(call, sender, document(UNKNOWN));
  if (!refused.fault) throw new Error('a letter to an unknown receiver was accepted');
  out.unknownReceiver = {
    mechanism: 'callback error .root.Envelope.Body.Fault', faultCode: faultCode(refused.fault),
    ErrorCode: refused.detail.ErrorCode, ErrorDescription: refused.detail.ErrorDescription,
  };

  const item = await call(receiver, 'CorrespondenceLetterInbound');
  if (!item || !item.GovernmentDocument) throw new Error(`the receiver's queue had no letter: ${JSON.stringify(item)}`);
  const body = item.GovernmentDocument.CorrespondenceLetter;
  const main = Buffer.from(body.MainLetterBinaryObject.$value, 'base64');
  out.pulled = {
    ProcessID: item.ProcessID, LetterID: body.ID, CorrespondenceDate: body.CorrespondenceDate, Subject: body.Subject,
    Sender: body.SenderParty.DepartmentOrganization.ID, Receiver: body.ReceiverParty.DepartmentOrganization.ID,
    MainLetterMimeCode: body.MainLetterBinaryObject.attributes.mimeCode,
    MainLetterSha256: crypto.createHash('sha256').update(main).digest('hex'), MainLetterSize: main.length,
  };
  const deleted = await call(receiver, 'CorrespondenceLetterDelete', { ProcessID: item.ProcessID });
  out.deleted = { ProcessID: deleted.ProcessID, ProcessTime: deleted.ProcessTime };
  const after = await call(receiver, 'CorrespondenceLetterInbound');
  out.emptyAfterDelete = !after || after.ProcessID === undefined;

  const facts = { LetterID: args['letter-id'], CorrespondenceDate: args.date, Subject: args.subject };
  const received = await call(receiver, 'CorrespondenceLetterOutbound', { ReceiveLetterNotifier: facts });
  out.receiveNotifier = { ProcessID: received.ProcessID };
  const accept = { LetterID: args['letter-id'], AcceptID: args['accept-id'], CorrespondenceDate: args.date,
    Subject: args.subject };
  const accepted = await call(receiver, 'CorrespondenceLetterOutbound', { AcceptLetterNotifier: accept });
  out.acceptNotifier = { ProcessID: accepted.ProcessID };

  out.senderPulled = [];
  for (let i = 0; i < 2; i += 1) {
    const pulled = await call(sender, 'CorrespondenceLetterInbound');
    const kind = NOTIFIERS.find((n) => pulled && pulled[n]);
    if (!kind) throw new Error(`expected a notifier at the sender, got ${JSON.stringify(pulled)}`);
    out.senderPulled.push({ kind, ProcessID: pulled.ProcessID, LetterID: pulled[kind].LetterID,
      AcceptID: pulled[kind].AcceptID || '' });
    await call(sender, 'CorrespondenceLetterDelete', { ProcessID: pulled.ProcessID });
  }
  const status = list((await call(sender, 'OutboundStatus')).Outbound).find((o) => o.ProcessID === out.sent.ProcessID);
  if (!status) throw new Error(`OutboundStatus does not list ${out.sent.ProcessID}`);
  out.status = { ProcessID: status.ProcessID, LetterID: status.LetterID, ProcessStatus: status.ProcessStatus,
    AcceptID: status.AcceptID || '' };
  // The envelope node-soap wrote last (SOAP 1.1 or 1.2, from forceSoap12Headers).
  out.wsdl.envelope = (/<\w+:Envelope\b[^>]*?xmlns:\w+="([^"]+)"/.exec(client.lastRequest) || [])[1] || null;
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err) => {
  const fault = err && err.root && err.root.Envelope && err.root.Envelope.Body.Fault;
  process.stderr.write(`${(err && err.stack) || err}\n${fault ? `fault: ${JSON.stringify(fault)}\n` : ''}`);
  process.exit(1);
});
