<?php
// A generated client of the agency interface: PHP's SoapClient in WSDL mode, driven only by the
// WSDL a gateway node serves (tests/interop/README.md; tests/integration/test_interop_php.py).
//
//   php client.php --wsdl URL --sender ORG --receiver ORG --letter-id TEXT --subject TEXT
//                  --date yyyy-MM-dd --pdf FILE --accept-id TEXT [--soap12]
//   php client.php --describe --wsdl URL [--soap12]
//
// PHP has no generator step: SoapClient reads the WSDL and the XSDs it imports when it is
// created and derives every operation, element and type from them (__getFunctions() and
// __getTypes() show them; --describe prints both as JSON). The requests below are plain PHP
// arrays that SoapClient serialises with those types: it qualifies the wrappers and the letter
// in their namespaces, base64-encodes xs:base64Binary and writes the mimeCode attribute; the
// answers come back as objects built from the same types.
//
// The flow: README "The flow every client runs". Output: one JSON line on stdout, exit 0; on an
// unexpected error the error (and the last exchange) on stderr, exit 1; wrong usage: exit 2.

declare(strict_types=1);

const STACK = 'php-soapclient';
const UNKNOWN_RECEIVER = '9999999999';
const NOTIFIER_KINDS = ['ReceiveLetterNotifier', 'AcceptLetterNotifier', 'RejectLetterNotifier',
    'InvalidLetterNotifier', 'InvalidAcceptIDNotifier'];

// BEGIN connect.md
// SoapClient in WSDL mode: every type comes from the WSDL the node serves.
function connect(string $wsdl, bool $soap12): SoapClient
{
    return new SoapClient($wsdl, [
        'soap_version' => $soap12 ? SOAP_1_2 : SOAP_1_1,
        'features' => SOAP_SINGLE_ELEMENT_ARRAYS, // a repeated element is an array even when one
        'encoding' => 'UTF-8',                    // charset of your PHP strings (TIS-620 works too)
        'exceptions' => true,                     // a SOAP Fault is thrown as SoapFault
        'cache_wsdl' => WSDL_CACHE_NONE,          // WSDL_CACHE_DISK in production
        'trace' => true,                          // __getLastRequest() / __getLastResponse()
        'connection_timeout' => 30,
    ]);
}

// A letter from $sender to $receiver; PHP strings are UTF-8, the PDF's bytes are sent as
// xs:base64Binary (SoapClient encodes them) with the mimeCode attribute.
function letter(string $id, string $date, string $subject, string $sender, string $receiver,
                string $pdf): array
{
    $party = fn (string $org, string $givenName) => [
        'GivenName' => $givenName,
        'MinistryOrganization' => ['ID' => substr($org, 0, 2)],
        'DepartmentOrganization' => ['ID' => $org],
    ];
    return ['GovernmentDocument' => ['CorrespondenceLetter' => [
        'ID' => $id, 'CorrespondenceDate' => $date, 'Subject' => $subject,
        'SecretCode' => '001', 'SpeedCode' => '001',
        'SenderParty' => $party($sender, 'สมชาย'), 'ReceiverParty' => $party($receiver, 'สมหญิง'),
        'MainLetterBinaryObject' => ['_' => $pdf, 'mimeCode' => 'pdf'],
    ]]];
}

// Send a letter as the organisation whose endpoint (ECMS-URL) is $endpoint: its ProcessID, or
// the ErrorDetail (ErrorCode, ErrorDescription) of the SOAP Fault the node answered with.
function send(SoapClient $client, string $endpoint, array $letter): array
{
    $client->__setLocation($endpoint);
    try {
        $answer = $client->CorrespondenceLetterOutbound($letter);
        return ['ProcessID' => $answer->ProcessID, 'ProcessTime' => $answer->ProcessTime];
    } catch (SoapFault $fault) {
        $error = $fault->detail->ErrorDetail ?? null;   // the WSDL's fault element
        if ($error === null) {
            throw $fault;                               // not the node's typed fault
        }
        $error = is_array($error) ? $error[0] : $error; // one ErrorDetail or several
        return ['faultCode' => $fault->faultcode, 'ErrorCode' => $error->ErrorCode,
                'ErrorDescription' => $error->ErrorDescription];
    }
}
// Use:
//   $client = connect('http://HOST/ecms-ws01/service2/2000100000?wsdl', false);
//   $sent = send($client, $ecmsUrl, letter('ศธ 0210/1', '2026-11-26', 'เรื่อง', '2000100000',
//                                          '2000350000', file_get_contents('letter.pdf')));
//   echo $sent['ProcessID'] ?? "refused: {$sent['ErrorCode']} {$sent['ErrorDescription']}";
// END connect.md

function usage(string $message): never
{
    fwrite(STDERR, "$message\nusage: php client.php --wsdl URL --sender ORG --receiver ORG --letter-id TEXT "
        . "--subject TEXT --date yyyy-MM-dd --pdf FILE --accept-id TEXT [--soap12]\n"
        . "       php client.php --describe --wsdl URL [--soap12]\n");
    exit(2);
}

function options(array $argv): array
{
    $valued = ['wsdl', 'sender', 'receiver', 'letter-id', 'subject', 'date', 'pdf', 'accept-id'];
    $flags = ['soap12', 'describe'];
    $opts = array_fill_keys($flags, false);
    for ($i = 1; $i < count($argv); $i++) {
        $name = str_starts_with($argv[$i], '--') ? substr($argv[$i], 2) : null;
        if (in_array($name, $flags, true)) {
            $opts[$name] = true;
        } elseif (in_array($name, $valued, true) && $i + 1 < count($argv)) {
            $opts[$name] = $argv[++$i];
        } else {
            usage("unexpected argument: {$argv[$i]}");
        }
    }
    $required = $opts['describe'] ? ['wsdl'] : $valued;
    foreach ($required as $name) {
        if (!isset($opts[$name]) || $opts[$name] === '') {
            usage("--$name is required");
        }
    }
    return $opts;
}

// The operations and types SoapClient derived from the WSDL. Every operation is listed once per
// port (SOAP 1.1 and 1.2): the distinct ones are returned.
function described(SoapClient $client): array
{
    return ['functions' => array_values(array_unique($client->__getFunctions())),
            'types' => array_values(array_unique($client->__getTypes()))];
}

function call(SoapClient $client, string $endpoint, string $operation, array $body = []): mixed
{
    $GLOBALS['lastOperation'] = $operation;
    $client->__setLocation($endpoint);
    return $client->$operation($body);
}

// The queue item an inbound answer carries: [kind, item], or null for an empty queue.
function queueItem(mixed $answer): ?array
{
    if (!is_object($answer) || !isset($answer->ProcessID)) {
        return null;
    }
    foreach (['GovernmentDocument', ...NOTIFIER_KINDS] as $kind) {
        if (isset($answer->$kind)) {
            return [$kind, $answer->$kind];
        }
    }
    throw new UnexpectedValueException("inbound answer {$answer->ProcessID} carries no known item");
}

function codes(object $list): array
{
    $codes = [];
    foreach ($list->Code ?? [] as $code) {
        $codes[$code->Value] = $code->Description;
    }
    return $codes;
}

// How SoapClient wrote the last request: its envelope's namespace and the {namespace}name of the
// Body's element and of that element's first child. (php-soap needs no DOM extension; this reads
// the envelope SoapClient writes, which declares every namespace on the Envelope element.)
function lastRequestShape(SoapClient $client): array
{
    $xml = (string) $client->__getLastRequest();
    $ns = static fn (string $prefix) => preg_match('/\sxmlns:' . preg_quote($prefix, '/') . '="([^"]*)"/', $xml, $m)
        ? $m[1] : null;
    $envelope = preg_match('/<([\w.-]+):Envelope\b/', $xml, $e) ? $ns($e[1]) : null;
    if (!preg_match('/<[\w.-]+:Body\b[^>]*>\s*<([\w.-]+):([\w.-]+)\b[^>]*>\s*<([\w.-]+):([\w.-]+)\b/', $xml, $m)) {
        return ['envelope' => $envelope, 'body' => null, 'item' => null];
    }
    return ['envelope' => $envelope, 'body' => '{' . $ns($m[1]) . '}' . $m[2], 'item' => '{' . $ns($m[3]) . '}' . $m[4]];
}

function flow(array $opts): array
{
    $pdf = file_get_contents($opts['pdf']);
    if ($pdf === false) {
        throw new RuntimeException("cannot read {$opts['pdf']}");
    }
    $GLOBALS['lastOperation'] = 'load WSDL';
    $client = connect($opts['wsdl'], $opts['soap12']);
    $GLOBALS['client'] = $client;
    $wsdlEndpoint = explode('?', $opts['wsdl'], 2)[0];

    // 1. The directory, at the endpoint the WSDL came from.
    $directory = call($client, $wsdlEndpoint, 'GetOrganizationList');
    $organizations = $urls = [];
    foreach ($directory->OrganizationInfo ?? [] as $info) {
        $organizations[] = $info->OrganizationID;
        $urls[$info->OrganizationID] = $info->{'ECMS-URL'};   // an ID like 2000100000 is an int key
    }
    foreach (['sender', 'receiver'] as $role) {
        if (!isset($urls[$opts[$role]])) {
            throw new UnexpectedValueException("GetOrganizationList does not list {$opts[$role]}");
        }
    }
    $sender = $urls[$opts['sender']];
    $receiver = $urls[$opts['receiver']];

    // 2. Code lists and the clock, at the sender's endpoint.
    $secretCodes = codes(call($client, $sender, 'GetSecretCodes'));
    $speedCodes = codes(call($client, $sender, 'GetSpeedCodes'));
    $mimeCodes = array_map(fn ($code) => $code->{'File-Extension'}, call($client, $sender, 'GetMimeCodes')->Code ?? []);
    $ministries = call($client, $sender, 'GetMinistryOrganizationList')->MinistryOrganizationList ?? [];
    $time = call($client, $sender, 'TimeCheck');

    // 3. The letter, sent from the sender; 4. the same letter to an unknown receiver.
    $GLOBALS['lastOperation'] = 'CorrespondenceLetterOutbound';
    $letter = letter($opts['letter-id'], $opts['date'], $opts['subject'], $opts['sender'], $opts['receiver'], $pdf);
    $sent = send($client, $sender, $letter);
    if (!isset($sent['ProcessID'])) {
        throw new UnexpectedValueException('the letter was refused: ' . json_encode($sent, JSON_UNESCAPED_UNICODE));
    }
    $sentShape = lastRequestShape($client);
    $unknown = letter($opts['letter-id'], $opts['date'], $opts['subject'], $opts['sender'], UNKNOWN_RECEIVER, $pdf);
    $refused = send($client, $sender, $unknown);
    if (!isset($refused['ErrorCode'])) {
        throw new UnexpectedValueException('a letter to ' . UNKNOWN_RECEIVER . ' was accepted: ' . json_encode($refused));
    }

    // 5. At the receiver: pull the letter, delete it, pull again.
    $item = queueItem($inbound = call($client, $receiver, 'CorrespondenceLetterInbound'));
    if ($item === null || $item[0] !== 'GovernmentDocument') {
        throw new UnexpectedValueException("the receiver's queue had no letter first: " . json_encode($inbound));
    }
    $pulledLetter = $item[1]->CorrespondenceLetter;
    $main = $pulledLetter->MainLetterBinaryObject;   // ->_ holds the decoded bytes
    $deleted = call($client, $receiver, 'CorrespondenceLetterDelete', ['ProcessID' => $inbound->ProcessID]);
    $after = call($client, $receiver, 'CorrespondenceLetterInbound');

    // 6. The receiver's notifiers.
    $facts = ['LetterID' => $opts['letter-id'], 'CorrespondenceDate' => $opts['date'], 'Subject' => $opts['subject']];
    $receiveNotifier = call($client, $receiver, 'CorrespondenceLetterOutbound', ['ReceiveLetterNotifier' => $facts]);
    $acceptNotifier = call($client, $receiver, 'CorrespondenceLetterOutbound', ['AcceptLetterNotifier' => [
        'LetterID' => $opts['letter-id'], 'AcceptID' => $opts['accept-id'],
        'CorrespondenceDate' => $opts['date'], 'Subject' => $opts['subject']]]);

    // 7. At the sender: the two notifiers, pulled and deleted, then OutboundStatus.
    $senderPulled = [];
    for ($i = 0; $i < 2; $i++) {
        $item = queueItem($answer = call($client, $sender, 'CorrespondenceLetterInbound'));
        if ($item === null) {
            throw new UnexpectedValueException("the sender's queue held " . count($senderPulled) . ' notifiers, not 2');
        }
        [$kind, $notifier] = $item;
        $senderPulled[] = ['kind' => $kind, 'ProcessID' => $answer->ProcessID,
            'LetterID' => $notifier->LetterID ?? null, 'AcceptID' => $notifier->AcceptID ?? ''];
        call($client, $sender, 'CorrespondenceLetterDelete', ['ProcessID' => $answer->ProcessID]);
    }
    $status = null;
    foreach (call($client, $sender, 'OutboundStatus')->Outbound ?? [] as $outbound) {
        if ($outbound->ProcessID === $sent['ProcessID']) {
            $status = ['ProcessID' => $outbound->ProcessID, 'LetterID' => $outbound->LetterID,
                'ProcessStatus' => $outbound->ProcessStatus, 'AcceptID' => $outbound->AcceptID ?? ''];
        }
    }
    if ($status === null) {
        throw new UnexpectedValueException("OutboundStatus does not list {$sent['ProcessID']}");
    }

    return [
        'stack' => STACK, 'stackVersion' => PHP_VERSION, 'libxmlVersion' => LIBXML_DOTTED_VERSION,
        'soapVersion' => $opts['soap12'] ? '1.2' : '1.1',
        'organizations' => $organizations,
        'endpoints' => ['sender' => $sender, 'receiver' => $receiver],
        'secretCodes' => $secretCodes, 'speedCodes' => $speedCodes, 'mimeCodes' => $mimeCodes,
        'ministries' => count($ministries), 'time' => $time,
        'sent' => $sent,
        'unknownReceiver' => ['mechanism' => 'SoapFault->detail', ...$refused],
        'pulled' => [
            'ProcessID' => $inbound->ProcessID, 'LetterID' => $pulledLetter->ID,
            'CorrespondenceDate' => $pulledLetter->CorrespondenceDate, 'Subject' => $pulledLetter->Subject,
            'Sender' => $pulledLetter->SenderParty->DepartmentOrganization->ID,
            'Receiver' => $pulledLetter->ReceiverParty->DepartmentOrganization->ID,
            'MainLetterMimeCode' => $main->mimeCode,
            'MainLetterSha256' => hash('sha256', $main->_), 'MainLetterSize' => strlen($main->_),
        ],
        'deleted' => ['ProcessID' => $deleted->ProcessID, 'ProcessTime' => $deleted->ProcessTime],
        'emptyAfterDelete' => queueItem($after) === null,
        'receiveNotifier' => ['ProcessID' => $receiveNotifier->ProcessID],
        'acceptNotifier' => ['ProcessID' => $acceptNotifier->ProcessID],
        'senderPulled' => $senderPulled,
        'status' => $status,
        // How SoapClient wrote the letter it sent: from the WSDL's types, not from the arrays alone.
        'wsdlMode' => ['operations' => count(described($client)['functions']), 'sentLetter' => $sentShape],
    ];
}

function main(array $argv): int
{
    $opts = options($argv);
    ini_set('default_socket_timeout', '60');
    try {
        $out = $opts['describe']
            ? ['stack' => STACK, 'stackVersion' => PHP_VERSION, ...described(connect($opts['wsdl'], $opts['soap12']))]
            : flow($opts);
        echo json_encode($out, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR), "\n";
        return 0;
    } catch (Throwable $error) {
        $client = $GLOBALS['client'] ?? null;
        $report = [
            'error' => get_class($error) . ': ' . $error->getMessage(),
            'operation' => $GLOBALS['lastOperation'] ?? null,
            'faultcode' => $error instanceof SoapFault ? $error->faultcode : null,
            'detail' => $error instanceof SoapFault ? ($error->detail ?? null) : null,
            'lastRequest' => $client ? substr((string) $client->__getLastRequest(), 0, 4000) : null,
            'lastResponse' => $client ? substr((string) $client->__getLastResponse(), 0, 4000) : null,
            'trace' => $error->getTraceAsString(),
        ];
        fwrite(STDERR, json_encode($report, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_PRETTY_PRINT
            | JSON_INVALID_UTF8_SUBSTITUTE | JSON_PARTIAL_OUTPUT_ON_ERROR) . "\n");
        return 1;
    }
}

exit(main($argv));
