#!/usr/bin/env node
// A foreign SOAP client of the agency interface: the npm `soap` package, driven only by the
// WSDL a gateway node serves. Used by tests/integration/test_interop_node.py.
//
//   node client.js --wsdl URL --sender ORG --receiver ORG --letter-id ID --subject TEXT
//                  [--date yyyy-MM-dd] [--main-base64 B64 --main-mime pdf] [--soap12]
//
// 1. loads the WSDL (and the XSDs it includes) from URL;
// 2. asks GetOrganizationList, at the endpoint the WSDL was fetched from (URL without its query),
//    for the ECMS-URL of both organisations;
// 3. sends a letter (CorrespondenceLetterOutbound) from the sender's endpoint;
// 4. pulls it (CorrespondenceLetterInbound) from the receiver's endpoint, deletes it
//    (CorrespondenceLetterDelete) and pulls again to see the queue empty;
// 5. prints one JSON object on stdout. On failure: a JSON object on stderr and exit status 1.
//
// What node-soap 1.13 needs that a generated client should not (see the two notes below):
//  * WSDL_TNS_WORKAROUND: node-soap resolves an unprefixed QName in the WSDL (part/@element =
//    "CorrespondenceLetterOutboundRequest") against the WSDL's targetNamespace instead of "no
//    namespace" and then crashes while loading ("Cannot read properties of undefined (reading
//    'elements')"). The script first loads the WSDL exactly as served; only if that fails with
//    this error does it load it again with the targetNamespace attribute of wsdl:definitions
//    removed, and says so in the output (wsdl.loadedAsServed = false).
//  * node-soap does not follow <xs:element ref="rsm:GovernmentDocument"/> into the imported
//    letter schema: it would write the letter's elements unqualified. The letter is therefore
//    given with explicit rsm:/ram: keys (the prefixes clients expect anyway, DESIGN section 3).
'use strict';

const { parseArgs } = require('node:util');
const soap = require('soap');
const SOAP_VERSION = require('soap/package.json').version;

const RSM = 'urn:th:gov:egif:data:standard:GovernmentDocument:1.0';
const RAM = 'urn:th:gov:egif:data:standard:ReusableAggregateBusinessInformationEntity:1';
const SERVICE = 'ECMSAgencyService';
const WSDL_LOAD_BUG = "Cannot read properties of undefined (reading 'elements')";
const WSDL_TNS_WORKAROUND = 'targetNamespace removed from wsdl:definitions before node-soap parsed it';

function usage(message) {
  process.stderr.write(`${message}\nusage: node client.js --wsdl URL --sender ORG --receiver ORG ` +
    '--letter-id ID --subject TEXT [--date yyyy-MM-dd] [--main-base64 B64 --main-mime EXT] [--soap12]\n');
  process.exit(2);
}

function options() {
  const { values } = parseArgs({
    options: {
      wsdl: { type: 'string' },
      sender: { type: 'string' },
      receiver: { type: 'string' },
      'letter-id': { type: 'string' },
      subject: { type: 'string' },
      date: { type: 'string', default: new Date().toISOString().slice(0, 10) },
      'main-base64': { type: 'string', default: Buffer.from('หนังสือทดสอบ\n', 'utf8').toString('base64') },
      'main-mime': { type: 'string', default: 'txt' },
      soap12: { type: 'boolean', default: false },
    },
    strict: true,
  });
  for (const name of ['wsdl', 'sender', 'receiver', 'letter-id', 'subject']) {
    if (!values[name]) usage(`--${name} is required`);
  }
  return values;
}

// node-soap fetches the WSDL and every XSD through this client; with `fixTns` it removes the
// WSDL's targetNamespace (see WSDL_TNS_WORKAROUND above) and leaves everything else alone.
class WsdlHttpClient extends soap.HttpClient {
  constructor(fixTns) {
    super({});
    this.fixTns = fixTns;
  }

  request(rurl, data, callback, exheaders, exoptions) {
    if (!this.fixTns || data !== null) return super.request(rurl, data, callback, exheaders, exoptions);
    return super.request(rurl, data, (err, res, body) => {
      if (!err && typeof body === 'string' && /<wsdl:definitions\b/.test(body)) {
        body = body.replace(/(<wsdl:definitions\b[^>]*?)\s+targetNamespace="[^"]*"/, '$1');
      }
      callback(err, res, body);
    }, exheaders, exoptions);
  }
}

async function loadClient(url, soap12) {
  const clientOptions = soap12 ? { forceSoap12Headers: true } : {};
  try {
    const client = await soap.createClientAsync(url, { ...clientOptions, httpClient: new WsdlHttpClient(false) });
    return { client, loadedAsServed: true, workaround: null, loadError: null };
  } catch (err) {
    if (!String(err && err.message).includes(WSDL_LOAD_BUG)) throw err;
    const client = await soap.createClientAsync(url, { ...clientOptions, httpClient: new WsdlHttpClient(true) });
    return { client, loadedAsServed: false, workaround: WSDL_TNS_WORKAROUND, loadError: String(err.message) };
  }
}

// Call one operation on the chosen port (SOAP 1.1 or 1.2 binding of the WSDL) at `endpoint`.
function call(state, endpoint, operation, args) {
  const { client, port } = state;
  client.setEndpoint(endpoint);
  const method = client[SERVICE][port][operation];
  if (typeof method !== 'function') throw new Error(`the WSDL has no operation ${operation} on port ${port}`);
  state.last = operation;
  return new Promise((resolve, reject) => {
    method(args, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

// { ID: 'x', SenderParty: {...} } -> { 'ram:ID': 'x', 'ram:SenderParty': {...} }, recursively;
// node-soap's `attributes` and `$value` keys stay as they are.
function ram(value) {
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([key, child]) => (
    key === 'attributes' || key === '$value' ? [key, child] : [`ram:${key}`, ram(child)])));
}

function party(org) {
  return {
    GivenName: 'สมหญิง', FamilyName: 'รักษ์ไทย', JobTitle: 'นักจัดการงานทั่วไป',
    MinistryOrganization: { ID: org.slice(0, 2) }, DepartmentOrganization: { ID: org },
  };
}

function governmentDocument(opts) {
  return {
    'rsm:GovernmentDocument': {
      attributes: { 'xmlns:rsm': RSM, 'xmlns:ram': RAM },
      'ram:CorrespondenceLetter': ram({
        attributes: { ID: 'Letter' },
        ID: opts['letter-id'],
        CorrespondenceDate: opts.date,
        Subject: opts.subject,
        SecretCode: '001',
        SpeedCode: '002',
        SenderParty: party(opts.sender),
        ReceiverParty: party(opts.receiver),
        Attachment: '',
        SendDate: `${opts.date}T10:30:00`,
        Description: 'ส่งจากไคลเอนต์ Node.js (npm soap)',
        MainLetterBinaryObject: { attributes: { mimeCode: opts['main-mime'] }, $value: opts['main-base64'] },
      }),
    },
  };
}

function text(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === 'object') return value.$value === undefined ? null : String(value.$value);
  return String(value);
}

function faultDetail(err) {
  const body = err && err.root && err.root.Envelope && err.root.Envelope.Body;
  const fault = body && body.Fault;
  if (!fault) return null;
  const detail = fault.detail || fault.Detail;
  return (detail && detail.ErrorDetail) || null;
}

async function main() {
  const opts = options();
  const port = opts.soap12 ? 'ECMSAgencySoap12' : 'ECMSAgencySoap11';
  const state = { client: null, port, last: 'load WSDL' };
  try {
    const loaded = await loadClient(opts.wsdl, opts.soap12);
    state.client = loaded.client;
    // The address the served WSDL gives for this port; reported, not used (the endpoint the
    // WSDL came from is what a person configuring a client would use).
    const portAddress = loaded.client.wsdl.services[SERVICE].ports[port].location;
    const wsdlEndpoint = opts.wsdl.split('?')[0];

    const directory = await call(state, wsdlEndpoint, 'GetOrganizationList', {});
    const infos = [].concat((directory && directory.OrganizationInfo) || []);
    const urlOf = (org) => {
      const info = infos.find((i) => i.OrganizationID === org);
      if (!info) throw new Error(`GetOrganizationList does not list ${org}`);
      return info['ECMS-URL'];
    };
    const senderUrl = urlOf(opts.sender);
    const receiverUrl = urlOf(opts.receiver);

    const sent = await call(state, senderUrl, 'CorrespondenceLetterOutbound', governmentDocument(opts));
    const echoed = sent.GovernmentDocument && sent.GovernmentDocument.CorrespondenceLetter;

    const pulled = await call(state, receiverUrl, 'CorrespondenceLetterInbound', {});
    if (!pulled || !pulled.GovernmentDocument) throw new Error(`the receiver's queue had no letter: ${JSON.stringify(pulled)}`);
    const letter = pulled.GovernmentDocument.CorrespondenceLetter;
    const signature = pulled.GovernmentDocument.GovernmentSignature || null;

    const deleted = await call(state, receiverUrl, 'CorrespondenceLetterDelete', { ProcessID: pulled.ProcessID });
    const after = await call(state, receiverUrl, 'CorrespondenceLetterInbound', {});

    const out = {
      soapPackageVersion: SOAP_VERSION,
      soapVersion: opts.soap12 ? '1.2' : '1.1',
      port,
      wsdl: { url: opts.wsdl, endpoint: wsdlEndpoint, portAddress, loadedAsServed: loaded.loadedAsServed,
        workaround: loaded.workaround, loadError: loaded.loadError },
      endpoints: { sender: senderUrl, receiver: receiverUrl },
      organizations: infos.map((i) => i.OrganizationID),
      sent: {
        ProcessID: text(sent.ProcessID), processID: text(sent.processID), ProcessTime: text(sent.ProcessTime),
        Subject: echoed ? text(echoed.Subject) : null,
      },
      pulled: {
        ProcessID: text(pulled.ProcessID), processID: text(pulled.processID), ProcessTime: text(pulled.ProcessTime),
        LetterID: text(letter.ID), CorrespondenceDate: text(letter.CorrespondenceDate), Subject: text(letter.Subject),
        SecretCode: text(letter.SecretCode), SpeedCode: text(letter.SpeedCode),
        Sender: text(letter.SenderParty && letter.SenderParty.DepartmentOrganization.ID),
        Receiver: text(letter.ReceiverParty && letter.ReceiverParty.DepartmentOrganization.ID),
        LetterAttributeID: (letter.attributes && letter.attributes.ID) || null,
        MainLetterMimeCode: letter.MainLetterBinaryObject.attributes.mimeCode,
        MainLetterBase64: text(letter.MainLetterBinaryObject),
      },
      signature: signature && {
        TypeCode: text(signature.TypeCode),
        SignerDepartmentCode: text(signature.SignerParty && signature.SignerParty.DepartmentCode),
        ReferenceURIs: [].concat(signature.Signature.SignedInfo.Reference).map((r) => r.attributes.URI),
        X509SubjectName: text(signature.Signature.KeyInfo.X509Data.X509SubjectName),
        HasCertificate: Boolean(text(signature.Signature.KeyInfo.X509Data.X509Certificate)),
      },
      deleted: { ProcessID: text(deleted.ProcessID), ProcessTime: text(deleted.ProcessTime) },
      queueEmptyAfterDelete: !after || !after.ProcessID,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } catch (err) {
    const client = state.client;
    process.stderr.write(`${JSON.stringify({
      error: String((err && err.message) || err),
      operation: state.last,
      errorDetail: faultDetail(err),
      lastRequest: client ? client.lastRequest : null,
      lastResponse: client ? client.lastResponse : null,
      stack: err && err.stack,
    })}\n`);
    process.exit(1);
  }
}

main();
